"""`kubelite <component> [flags]`: one binary for every daemon, like hyperkube/k3s.

Each component package exposes `main(argv: list[str] | None) -> int` in its
`main` module; this dispatcher imports only the one that was asked for, so a
kubelet does not pay for importing the apiserver.
"""

from __future__ import annotations

import importlib
import sys

COMPONENTS: dict[str, tuple[str, str]] = {
    "kvstore": ("kvstore.main", "Raft-backed key-value store speaking the etcd v3 API"),
    "apiserver": ("apiserver.main", "resource API server (gRPC) over the kvstore"),
    "scheduler": ("scheduler.main", "binds pending pods to nodes"),
    "controller-manager": ("controllers.main", "ReplicaSet, Deployment and garbage-collector controllers"),
    "kubelet": ("kubelet.main", "node agent: registers a node and runs its pods"),
    "proxy": ("kubelite.proxy.main", "Service proxy: iptables NAT rules for Services and Endpoints, like kube-proxy"),
    "ingress": ("kubelite.ingress.main", "Ingress controller: real nginx on the node's IP ports 80/443"),
    "dns": ("kubelite.clusterdns.main", "cluster DNS: <service>.<namespace>.svc.cluster.local from a watch cache"),
    "image": ("kubelite.image", "load images (OCI layout or docker-save tar) into the cluster registry"),
    "build": ("kubelite.build.cli", "build an image from a Dockerfile (runc RUN steps, layer cache, push)"),
    "up": ("kubelite.cluster", "start a local cluster as separate processes"),
    "add-node": ("kubelite.cluster", "join one more node to the running local cluster"),
    "down": ("kubelite.cluster", "stop the local cluster and clean up"),
    "status": ("kubelite.cluster", "show the local cluster's processes and health"),
    "supervise": ("kubelite.supervisor", "run and restart a local cluster's daemons (started by up/init)"),
    "restart": ("kubelite.supervisecli", "restart one component of the local cluster (asks its supervisor)"),
    "kubeconfig": ("kubelite.kubeconfig", "print a kubeconfig for real kubectl (admin credentials)"),
    "init": ("kubelite.bootstrap.initcli", "start a control plane that other machines join (prints the join command)"),
    "join": ("kubelite.bootstrap.joincli", "join this machine to a cluster as a node (token + CA hash discovery)"),
    "leave": ("kubelite.bootstrap.joincli", "drain and remove this joined node, stop its daemons, clean up"),
    "token": ("kubelite.bootstrap.tokencli", "create | list | delete: bootstrap tokens for joining nodes"),
    "certs": ("kubelite.pki.cli", "check-expiration | renew all|NAME: the cluster's certificates"),
}


def _usage() -> str:
    lines = ["usage: kubelite <command> [flags]", "", "commands:"]
    lines += [f"  {name:<20} {text}" for name, (_, text) in COMPONENTS.items()]
    lines += ["", "Run `kubelite <command> --help` for the command's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMPONENTS:
        print(f"kubelite: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMPONENTS[command][0])
    if module.__name__ in ("kubelite.cluster", "kubelite.bootstrap.joincli"):
        return int(module.main(command, rest))
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
