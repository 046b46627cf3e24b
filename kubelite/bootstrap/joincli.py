"""`kubelite join` and `kubelite leave`: make this machine a node of a cluster elsewhere, and undo it.

Why only the node's own directory: a joined machine shares nothing with the
control plane. `join` discovers and verifies the cluster from the network
(`discovery`), writes the bootstrap kubeconfig (the token; 0600) into its
data directory, and starts the same kubelet `kubelite up` starts
(`localcluster.kubelet_component`), which obtains its own certificate
through a CSR and keeps it there; with the runc runtime the kubelet takes
the pod network, cluster DNS and registry from cluster-info's signed node
configuration (`node_flags`), and the Service proxy follows, with that node
certificate as identity. `leave` cordons and drains the node as the node
itself, stops the daemons, removes what they made in the machine's own network
namespace (VTEP, pod bridge, proxy and masquerade rules), deletes the Node and
removes the data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from kubectl.commands.nodes import run as drain_nodes
from kubectl.errors import CliError
from kubectl.session import Session
from kubelet import cni
from kubelet.overlay.model import DEFAULT_PORT, VxlanConfig
from kubelet.overlay.sync import remove_vtep
from kubelite import addons, cleanup, supervisecli
from kubelite.api import Node
from kubelite.api import bootstraptoken as bt
from kubelite.api import clusterinfo as ci
from kubelite.api.durations import duration
from kubelite.api.errors import ApiError, NotFound
from kubelite.bootstrap.discovery import DiscoveryError, discover
from kubelite.client import ApiClient
from kubelite.client.tls import ClientTLS
from kubelite.cluster import _teardown, resolve_runtime
from kubelite.componentstart import UpError
from kubelite.localcluster import (
    ClusterPlan,
    RunningProcess,
    kubelet_component,
    load_extra,
    load_state,
    save_state,
    state_file,
)

DEFAULT_DATA_DIR = Path("/var/lib/kubelite-node") if os.geteuid() == 0 else Path.home() / ".kubelite" / "node"


def join_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite join", description="Join this machine to a cluster as a node.")
    p.add_argument("server", metavar="https://ADDR:PORT", help="the control plane, as printed by `kubelite init`")
    p.add_argument("--token", required=True, help="bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})")
    p.add_argument("--discovery-token-ca-cert-hash", action="append", default=[], metavar="sha256:HASH",
                   help="the cluster CA's public-key hash (repeatable during a CA rotation)")
    p.add_argument("--node-name", default=socket.gethostname(), help="this node's name (default: the host name)")
    p.add_argument("--node-ip", default="", help="this node's address (default: the one that reaches the server)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="this node's own state")
    p.add_argument("--runtime", default="auto", choices=["auto", "runc", "process"])
    p.add_argument("--port-offset", type=int, default=0, help="added to the kubelet's ports")
    p.add_argument("--timeout", type=duration, default=120.0, help="how long (120, 2m) to wait for the node to be ready")
    return p


def leave_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite leave", description="Drain and remove this node from its cluster.")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the node's state (as given to join)")
    p.add_argument("--timeout", type=duration, default=120.0, help="how long (120, 2m) to wait for the node's pods to go")
    return p


def route_source(server: str) -> str:
    """The local address this machine uses to reach `server` (no packet is sent)."""
    host = urlsplit(server).hostname or ""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, urlsplit(server).port or 443))
        return str(s.getsockname()[0])


def node_flags(config: dict[str, str], runc: bool = True) -> list[str]:
    """The kubelet flags of cluster-info's signed node configuration (`addons.node_config`): the node
    Lease's duration, and for a runc node the pod network the control plane chose and the cluster DNS,
    so a joined node is like the control plane's own. The image registry goes in as `--default-registry`."""
    flags: list[str] = []
    if config.get("nodeLeaseDurationSeconds"):
        flags += ["--node-lease-duration-seconds", config["nodeLeaseDurationSeconds"]]
    if not runc:
        return flags
    if config.get("podNetwork"):
        flags += ["--pod-network", config["podNetwork"], "--net-id", config.get("netId", "0")]
        if config.get("vxlanPort"):
            flags += ["--vxlan-port", config["vxlanPort"]]
    if config.get("clusterDNS"):
        flags += ["--cluster-dns", config["clusterDNS"], "--cluster-domain", config.get("clusterDomain", "cluster.local")]
    return flags


def say(msg: str) -> None:
    print(msg, flush=True)


async def join(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    if state_file(data_dir).exists():
        raise UpError(f"{data_dir} already holds a node; run `kubelite leave --data-dir {data_dir}` first")
    info = await discover(args.server, args.token, args.discovery_token_ca_cert_hash)
    if not info.grpc_server:
        raise UpError("cluster-info names no kubelite gRPC server (the control plane is not kubelite's)")
    say(f"[discovery] cluster at {info.server} verified (CA pinned, cluster-info signed with token "
        f"{bt.parse_token(args.token)[0]})")
    runtime, note = resolve_runtime(args.runtime)
    if note:
        say(note)
    ip = args.node_ip or route_source(args.server)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    kubeconfig = data_dir / "bootstrap-kubelet.conf"
    fd = os.open(kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(ci.bootstrap_kubeconfig(info, args.token))
    certs = data_dir / "pki"
    plan = ClusterPlan(data_dir=data_dir, nodes=1, port_offset=args.port_offset, runtime=runtime)
    identity = ["--bootstrap-kubeconfig", str(kubeconfig), "--cert-dir", str(certs),
                *node_flags(info.node_config, runc=runtime == "runc")]
    if runtime == "runc":
        if info.node_config.get("registryTLS") == "true":  # verified with the cluster CA the kubelet keeps
            identity += ["--registry-ca-file", str(certs / "ca.crt")]
    # <data>/nodes/<name>, as `up` lays nodes out: `_teardown` finds the runc state there
    kubelet = kubelet_component(args.node_name, ip, args.port_offset, data_dir / "nodes" / args.node_name, runtime,
                                identity,
                                info.node_config.get("registry", "") if runtime == "runc" else "")
    started: list[RunningProcess] = []
    deadline = time.monotonic() + args.timeout
    save_state(data_dir, info.grpc_server, started, role="node", node=args.node_name, runtime=runtime,
               node_config=info.node_config)
    plan.components = [kubelet]
    if runtime == "runc":
        identity = ["--cacert", str(certs / "ca.crt"), "--cert", str(certs / "kubelet-client.crt"),
                    "--key", str(certs / "kubelet-client.key")]
        plan.components.append(addons.proxy_component(args.node_name, ip, info.grpc_server, args.port_offset,
                                                      identity))
    try:  # the supervisor starts them in order and restarts either if it dies (see kubelite.supervisor)
        sup = supervisecli.spawn_supervisor(plan, max(5.0, deadline - time.monotonic()))
        try:
            await supervisecli.wait_ready(plan, sup, deadline, say)
        except supervisecli.SupervisorError as exc:
            raise UpError(str(exc)) from None
    except BaseException:
        say("join failed; stopping what was started")
        await _teardown(data_dir, started, 10.0, say)
        state_file(data_dir).unlink(missing_ok=True)
        raise
    say(f"\nThis machine joined the cluster as node {args.node_name!r} ({ip}); its certificate is in {certs}.\n"
        f"Remove it with: kubelite leave --data-dir {data_dir}")
    return 0


def _node_client(data_dir: Path, server: str) -> ApiClient:
    certs = data_dir / "pki"
    tls = ClientTLS(str(certs / "ca.crt"), str(certs / "kubelet-client.crt"), str(certs / "kubelet-client.key"))
    return ApiClient.connect(server, credentials=tls.credentials())


async def _drain(client: ApiClient, server: str, node: str, timeout: float) -> None:
    """`kctl drain --ignore-daemonsets --force --delete-emptydir-data` of this node, as the node itself
    (the Node authorizer lets it change its own Node and delete its own pods)."""
    args = argparse.Namespace(nodes=[node], verb="drain", ignore_daemonsets=True, force=True,
                              delete_emptydir_data=True, grace_period=-1, timeout=timeout)
    try:
        await drain_nodes(Session(client, server, "default"), args)
    except CliError as exc:
        raise UpError("\n".join([str(exc), *exc.lines[1:]])) from None


async def _remove_overlay(config: dict[str, str]) -> list[str]:
    """This machine's VTEP (a joined node runs in the machine's own namespace, which outlives it)."""
    if config.get("podNetwork") != "vxlan":
        return []
    try:
        port = int(config.get("vxlanPort") or DEFAULT_PORT)
        if await remove_vtep(VxlanConfig(int(config.get("netId") or 0), port)):
            say("  VTEP                     removed")
    except Exception as exc:  # netlink trouble: reported with the rest
        return [f"VTEP: {exc}"]
    return []


async def leave(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    if not state_file(data_dir).exists():
        raise UpError(f"no joined node in {data_dir}")
    server, procs = load_state(data_dir)
    extra = load_extra(data_dir)
    node = str(extra.get("node", ""))
    client = _node_client(data_dir, server)
    try:
        try:
            await _drain(client, server, node, args.timeout)
        except NotFound:
            say(f"node {node} is not registered; nothing to drain")
        problems = await _teardown(data_dir, procs, 30.0, say)
        if extra.get("runtime") == "runc":
            await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "kubelite.main", "proxy", "--cleanup"],
                                    check=False, capture_output=True, timeout=60)
            problems += await _remove_overlay(extra.get("node_config") or {})
            problems += await asyncio.to_thread(cleanup.remove_host_pod_network, cni.BRIDGE, cni.MASQ_COMMENT)
        try:
            await client.delete(Node, node, "")
            say(f"node {node} deleted")
        except NotFound:
            pass
    finally:
        await client.close()
    if problems:
        raise UpError("could not remove everything:\n  " + "\n  ".join(problems))
    shutil.rmtree(data_dir, ignore_errors=True)
    say(f"this machine left the cluster; {data_dir} removed")
    return 0


def main(command: str, argv: list[str]) -> int:
    args = (join_parser() if command == "join" else leave_parser()).parse_args(argv)
    try:
        return asyncio.run(join(args) if command == "join" else leave(args))
    except (DiscoveryError, bt.TokenError) as exc:
        print(f"error: discovery failed: {exc}", file=sys.stderr)
        return 1
    except (UpError, ApiError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
