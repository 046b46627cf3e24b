"""`kubelite up | add-node | down | status`: a whole cluster as separate processes on this machine.

`up` starts the daemons in dependency order (kvstore → apiserver → scheduler,
controller-manager, kubelets), waits for each one's `/readyz` and for every node
to report Ready, then writes the client config so `kctl` just works, and merges a
context into the user's kubeconfig for real `kubectl` (`kubeconfig.py`). With the
runc runtime each node is a network namespace on a host bridge (`netns.py`)
and images come from a local registry. `down` stops the daemons in reverse
order, removes every container, mount, namespace, bridge and rule the cluster
made (`cleanup.py`), even after a crash, and checks that nothing is left, then takes
its context out of the kubeconfig again.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from apiserver.allocation import NODE_PORT_RANGE
from apiserver.encryption import ensure_config_file
from apiserver.serviceaccount.keys import generate_signing_key
from kubelet.overlay.model import VxlanConfig
from kubelet.overlay.sync import remove_vtep
from kubelite import addons, cleanup, kctlcontext, kubeconfig, netns, supervisecli
from kubelite.api.durations import duration
from kubelite.componentstart import Say, UpError, start_component, wait_component_ready
from kubelite.localcluster import (
    ClusterPlan,
    RunningProcess,
    cluster_name,
    default_config_path,
    default_data_dir,
    encryption_config_path,
    load_extra,
    load_state,
    save_state,
    service_account_key_path,
    state_file,
)
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path
from kubelite.procs import (
    http_get_status,
    is_same_process_alive,
    stop_process,
)
from kubelite.settings import ClusterSettings


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"kubelite {command}")
    p.add_argument("--data-dir", type=Path, default=None, help="cluster state, logs and node dirs")
    if command == "up":
        p.add_argument("--nodes", type=int, default=2, help="number of nodes (kubelets) to run")
        p.add_argument("--port-offset", type=int, default=0, help="added to every default port")
        p.add_argument("--runtime", default="auto", choices=["auto", "runc", "process"],
                       help="container runtime; auto: runc when running as root with runc and conmon "
                            "installed, else process (host processes, no isolation)")
        p.add_argument("--kv-members", type=int, default=3, choices=[1, 3, 5],
                       help="kvstore members (one Raft cluster); 1 for a single unreplicated member")
        p.add_argument("--net-id", type=int, default=0,
                       help="runc nodes: bridge kl-br<ID> and subnet 10.88.<ID>.0/24 (to run a second cluster)")
        p.add_argument("--pod-network", default="host-gw", choices=["host-gw", "vxlan"],
                       help="runc nodes: host-gw routes on the one bridge (default here), or a VXLAN overlay "
                            "(what nodes on different subnets need)")
        p.add_argument("--timeout", type=duration, default=120.0, help="how long to wait for the cluster (120, 2m)")
        p.add_argument("--config-out", type=Path, default=None, help="where to write kctl's config")
        addons.add_up_flags(p)
        p.add_argument("-q", "--quiet", action="store_true")
    if command == "add-node":
        p.add_argument("--timeout", type=duration, default=60.0, help="how long to wait for the node to be Ready")
    if command == "down":
        p.add_argument("--purge", action="store_true", help="also delete the data directory")
        p.add_argument("--grace", type=duration, default=30.0, help="how long each daemon gets to stop (30, 30s)")
    return p


def main(command: str, argv: list[str]) -> int:
    args = _parser(command).parse_args(argv)
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    try:
        if command == "up":
            if args.nodes < 1:
                raise UpError("--nodes must be at least 1")
            runtime, note = resolve_runtime(args.runtime)
            if note and not args.quiet:
                print(note, flush=True)
            if args.pod_network != "host-gw" and runtime != "runc":
                raise UpError(f"--pod-network {args.pod_network} needs the runc runtime (the {runtime} runtime "
                              "has no pod network)")
            settings = ClusterSettings(nodes=args.nodes, port_offset=args.port_offset, runtime=runtime,
                                       net_id=args.net_id, kv_members=args.kv_members,
                                       pod_network=args.pod_network,
                                       tuning=addons.tuning_from_args(args))
            return asyncio.run(_up(settings.plan(data_dir), args.timeout, args.config_out or default_config_path(),
                                   args.quiet, settings))
        if command == "add-node":
            return asyncio.run(_add_node(data_dir, args.timeout))
        if command == "down":
            return asyncio.run(_down(data_dir, args.grace, args.purge))
        return asyncio.run(_status(data_dir))
    except UpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; run `{down_command(data_dir)}` to stop what was started", file=sys.stderr)
        return 130


def resolve_runtime(requested: str) -> tuple[str, str]:
    """`auto` -> runc where it can work; returns (runtime, a note for the user or "")."""
    missing = [tool for tool in ("runc", "conmon") if shutil.which(tool) is None] + netns.missing_tools()
    reasons = (["not running as root"] if os.geteuid() != 0 else []) + [f"{m} not found" for m in missing]
    if requested == "process":
        return "process", ""
    if not reasons:
        return "runc", ""
    if requested == "runc":
        raise UpError("the runc runtime needs " + ", ".join(reasons).replace("not found", "installed")
                      + " (Debian packages: runc conmon iproute2 iptables util-linux)")
    return "process", ("Using the process runtime (" + "; ".join(reasons) + "): containers run as host "
                       "processes without isolation or pod networking.")


def _alive(processes: list[RunningProcess]) -> list[RunningProcess]:
    return [p for p in processes if is_same_process_alive(p.pid, p.start_ticks)]


async def _up(plan: ClusterPlan, timeout: float, config_out: Path, quiet: bool, settings: ClusterSettings) -> int:
    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    if state_file(plan.data_dir).exists():
        _, old = load_state(plan.data_dir)
        if _alive(old) or load_extra(plan.data_dir).get("network"):
            raise UpError(f"a cluster is already running from {plan.data_dir} (or was not cleaned up); "
                          f"run `{down_command(plan.data_dir)}` first")
    if plan.network is not None:
        taken = netns.in_use(plan.network)
        if taken:
            raise UpError(f"{', '.join(taken)} already exist(s), probably another kubelite cluster: "
                          f"stop it with `kubelite down --data-dir ...` or pick another --net-id")
    if plan.pki_dir.exists():
        say(f"Resuming the cluster in {plan.data_dir} (its stored objects, certificates and keys are kept)")
    (plan.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    _ensure_pki(plan, say)
    # Secrets are encrypted at rest; an existing key file is kept (it reads the stored Secrets).
    if ensure_config_file(encryption_config_path(plan.data_dir)):
        say(f"  encryption key           new AES-GCM key for Secrets in {encryption_config_path(plan.data_dir)}")
    sa_key = service_account_key_path(plan.data_dir)
    if not sa_key.exists():
        say(f"  service account key      new RSA key for ServiceAccount tokens in {sa_key}")
    generate_signing_key(sa_key, public_path=sa_key.with_suffix(".pub"))  # an existing key is kept
    started: list[RunningProcess] = []
    deadline = time.monotonic() + timeout
    say(f"Starting kubelite ({plan.nodes} node(s), {plan.runtime} runtime, data in {plan.data_dir})")
    # Recorded before anything exists, so `down` can clean up after a crash at any point.
    save_state(plan.data_dir, plan.server, started, runtime=plan.runtime,
               network=plan.network.to_dict() if plan.network is not None else None, settings=settings.to_dict())
    try:
        if plan.network is not None:
            try:
                netns.create_network(plan.network)
                if settings.pod_network == "vxlan":
                    netns.route_out_via_host(plan.network)
                if plan.advertise_address and plan.network.nodes:
                    netns.forward_node_ports(plan.network, plan.advertise_address, NODE_PORT_RANGE)
            except netns.NetworkError as exc:
                raise UpError(f"cannot set up the node network: {exc}") from None
            save_state(plan.data_dir, plan.server, started, network=plan.network.to_dict())
            say(f"  network                  bridge {plan.network.bridge} {plan.network.host_ip}/24, "
                f"nodes {', '.join(n.netns for n in plan.network.nodes)}")
        if plan.registry:
            reg = await _start_registry(plan, say)
            if reg is not None:
                started.append(reg)
                save_state(plan.data_dir, plan.server, started)
        # The supervisor starts the components in order (and restarts any that dies): see supervisor.py.
        sup = supervisecli.spawn_supervisor(plan, max(5.0, deadline - time.monotonic()))
        try:
            await supervisecli.wait_ready(plan, sup, deadline, say)
        except supervisecli.SupervisorError as exc:
            raise UpError(str(exc)) from None
        if plan.network is not None:
            try:
                await addons.install_dns_service(plan.server, plan.network, max(5.0, deadline - time.monotonic()),
                                                 pki.admin_tls(plan.pki_dir).credentials())
            except addons.AddonError as exc:
                raise UpError(str(exc)) from None
        try:
            await addons.install_storage_class(plan.server, max(5.0, deadline - time.monotonic()),
                                               pki.admin_tls(plan.pki_dir).credentials())
        except addons.AddonError as exc:
            raise UpError(str(exc)) from None
        await _wait_nodes_ready(plan, deadline, say)
        await _wait_default_service_account(plan, deadline)
        await _publish_cluster_info(plan, settings, deadline)
    except BaseException:
        say("startup failed; stopping what was started")
        problems = await _teardown(plan.data_dir, started, 10.0, say)
        if problems:
            say(f"could not remove everything (run `{down_command(plan.data_dir)}` again):\n  "
                + "\n  ".join(problems))
        else:
            state_file(plan.data_dir).unlink(missing_ok=True)
        raise
    hint = _write_kctl_context(plan, config_out, say)
    kube_note = _write_kubeconfig(plan, settings)
    say(
        f"\nkubelite is up: apiserver at {plan.server} (Kubernetes HTTPS API at {plan.https_server}), "
        f"nodes {', '.join(plan.node_names)}\n{kube_note}\n\n"
        "Try:\n"
        f"  {hint}get nodes\n"
        f"  {hint}apply -f examples/\n"
        f"  {hint}get pods -o wide\n"
        f"Logs: {plan.data_dir / 'logs'}   Stop: {down_command(plan.data_dir)}"
    )
    return 0


def down_command(data_dir: Path) -> str:
    """The `kubelite down` that stops the cluster in `data_dir` (every hint names the cluster it is for)."""
    return "kubelite down" + ("" if data_dir == default_data_dir().resolve() else f" --data-dir {data_dir}")


def _write_kctl_context(plan: ClusterPlan, path: Path, say: Say) -> str:
    """Merge this cluster's context into kctl's config (`kctlcontext`), record where so `down` takes it
    out again, and tell the user how to select it; returns the `kctl ...` prefix for the hints."""
    context = kctlcontext.entry(plan.server, pki.admin_tls(plan.pki_dir), plan.data_dir)
    try:
        current = kctlcontext.write_merged(path, plan.name, context)
    except (kctlcontext.ContextError, OSError) as exc:
        raise UpError(f"cannot write kctl's config: {exc}") from None
    _, procs = load_state(plan.data_dir)
    save_state(plan.data_dir, plan.server, procs, kctl_context={"path": str(path), "context": plan.name,
                                                               "server": plan.server})
    env = "" if path == default_config_path() else f"KUBELITE_CONFIG={path} "
    if current:
        say(f"kctl context {plan.name!r} written to {path} (the current context)")
        return f"{env}kctl "
    say(f"kctl context {plan.name!r} written to {path}; another context is current, so select this "
        f"cluster with `{env}kctl config use-context {plan.name}` or add `--context {plan.name}`")
    return f"{env}kctl --context {plan.name} "


def _write_kubeconfig(plan: ClusterPlan, settings: ClusterSettings) -> str:
    """Merge this cluster's context into the user's kubeconfig (see `kubelite.kubeconfig`) and record
    where, so `down` removes it again; returns a line for the user. A kubeconfig that cannot be
    merged does not fail `up` (the cluster works): the line says why and how to get one anyway."""
    path = kubeconfig.default_path()
    name = kubeconfig.context_name(settings.port_offset)
    try:
        current = kubeconfig.write_merged(path, kubeconfig.admin_entry(name, plan.https_server, plan.pki_dir))
    except (kubeconfig.KubeconfigError, OSError) as exc:
        return (f"warning: kubeconfig not written ({exc}); `kubelite kubeconfig --data-dir {plan.data_dir}` "
                "prints one")
    _, procs = load_state(plan.data_dir)
    save_state(plan.data_dir, plan.server, procs,
               kubeconfig={"path": str(path), "context": name, "server": plan.https_server})
    if current:
        return f"kubectl context {name!r} written to {path} (the current context)"
    return (f"kubectl context {name!r} written to {path}; select it with `kubectl config use-context {name}` "
            f"or add `--context {name}`")


def _remove_kubeconfig(data_dir: Path, say: Say) -> None:
    """Undo `_write_kubeconfig` and `_write_kctl_context`: only entries that still point at this
    cluster are removed."""
    _remove_recorded(data_dir, "kctl_context", kctlcontext.remove_from, kctlcontext.ContextError,
                     "kctl context", "", say)
    _remove_recorded(data_dir, "kubeconfig", kubeconfig.remove_from, kubeconfig.KubeconfigError,
                     "kubeconfig", "context ", say)


def _remove_recorded(data_dir: Path, key: str, remove_from: Callable[[Path, str, str], bool],
                     error: type[Exception], label: str, noun: str, say: Say) -> None:
    """Remove the context recorded under `key` in the data dir's extras from the file it went to."""
    recorded = load_extra(data_dir).get(key)
    if not isinstance(recorded, dict):
        return
    where = Path(str(recorded.get("path")))
    try:
        if remove_from(where, str(recorded.get("context")), str(recorded.get("server"))):
            say(f"  {label:<24} {noun}{recorded.get('context')!r} removed from {where}")
    except (error, OSError) as exc:
        say(f"  {label:<24} left as is ({exc})")


def _ensure_pki(plan: ClusterPlan, say: Say) -> None:
    """Create the cluster's certificates, or keep the valid ones of an earlier run (idempotent)."""
    issued = pki.ensure(plan.pki_dir, plan.cert_specs())
    if issued:
        say(f"  {'certificates':<24} issued {len(issued)} in {plan.pki_dir}")
    else:
        say(f"  {'certificates':<24} reused from {plan.pki_dir}")


async def _start_registry(plan: ClusterPlan, say: Say) -> RunningProcess | None:
    """The cluster's image registry (docker-registry), seeded with the project-built busybox.

    None when an already running registry was reused (it is not ours to stop).
    """
    from kubelite import registry

    t0 = time.monotonic()
    try:
        reg = await registry.ensure_registry(plan.data_dir, plan.registry, tls=plan.registry_tls)
    except registry.RegistryStartError as exc:
        raise UpError(f"cannot start the image registry: {exc}") from None
    how = "reused" if reg.reused else "ready"
    say(f"  {'registry':<24} {how} at {plan.registry} ({time.monotonic() - t0:.1f}s)")
    if reg.pid is None or reg.start_ticks is None:
        return None
    return RunningProcess("registry", reg.pid, reg.start_ticks, reg.address)


async def _add_node(data_dir: Path, timeout: float) -> int:
    """Join one more node to the running local cluster, made exactly as `up` would have made it.

    The cluster is re-planned with one node more from the settings `up` recorded; only the
    new node's pieces are created: its namespace on the bridge (runc), its kubelet and its
    proxy. Each is recorded in the state file as soon as it exists, so `down` removes it
    even if this command fails half-way. The other kubelets learn the new node (and route
    to its pods) from the API like any node that registers.
    """
    if not state_file(data_dir).exists():
        raise UpError(f"no cluster is running from {data_dir}; start one with `kubelite up`")
    server, procs = load_state(data_dir)
    if not _alive(procs):
        raise UpError(f"the cluster in {data_dir} is not running; start it with `kubelite up`")
    recorded = load_extra(data_dir).get("settings")
    if not isinstance(recorded, dict):
        raise UpError(f"the cluster in {data_dir} was started by an older kubelite; restart it to add nodes")
    settings = ClusterSettings.from_dict(recorded)
    settings.nodes += 1
    plan = settings.plan(data_dir)
    name = plan.node_names[-1]
    deadline = time.monotonic() + timeout

    def say(msg: str) -> None:
        print(msg, flush=True)

    _ensure_pki(plan, say)  # the new node's kubelet certificates (and the apiserver's SAN for its IP)

    say(f"Adding {name} to the cluster at {server}")
    if plan.network is not None:
        save_state(data_dir, server, procs, network=plan.network.to_dict())  # before it exists: see above
        try:
            netns.create_network(plan.network)
        except netns.NetworkError as exc:
            raise UpError(f"cannot set up the network of {name}: {exc}") from None
        finally:  # with the host rules it (re)asserted, which `down` removes
            save_state(data_dir, server, procs, network=plan.network.to_dict())
    for comp in plan.components:
        if comp.name in (f"kubelet-{name}", f"proxy-{name}"):
            if supervisecli.recorded_supervisor(data_dir) is not None:  # from now on it restarts it too
                answer = supervisecli.request(data_dir, "add", dataclasses.asdict(comp))
                if not answer.startswith("ok"):
                    raise UpError(f"the supervisor did not add {comp.name}: {answer}")
                procs = load_state(data_dir)[1]
            else:  # a cluster from before the supervisor
                procs.append(start_component(plan, comp))
                save_state(data_dir, server, procs)
            await wait_component_ready(plan, comp, procs, deadline, say)
    save_state(data_dir, server, procs, settings=settings.to_dict())
    await _wait_nodes_ready(plan, deadline, say)
    say(f"{name} is Ready")
    return 0


async def _wait_nodes_ready(plan: ClusterPlan, deadline: float, say: Say) -> None:
    from kubelite.api import Node
    from kubelite.api.errors import ApiError
    from kubelite.api.podutil import condition_true
    from kubelite.client import ApiClient

    client = ApiClient.connect(plan.server, credentials=pki.admin_tls(plan.pki_dir).credentials())
    last_report = ""
    try:
        while time.monotonic() < deadline:
            try:
                nodes = (await client.list(Node)).items
            except ApiError:
                nodes = []
            ready = sorted(
                n.metadata.name or ""
                for n in nodes
                if condition_true(n.status, "Ready")
            )
            report = f"  nodes Ready: {len(ready)}/{plan.nodes}"
            if report != last_report:
                say(report)
                last_report = report
            if set(plan.node_names) <= set(ready):
                return
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    raise UpError("nodes did not become Ready in time; see the kubelet logs in " + str(plan.data_dir / "logs"))


async def _wait_default_service_account(plan: ClusterPlan, deadline: float) -> None:
    """Pods are refused until their namespace's `default` ServiceAccount exists: wait for the
    controller-manager to create it in `default`, so a pod applied right after `up` is admitted."""
    from kubelite.api import ServiceAccount
    from kubelite.api.errors import ApiError
    from kubelite.client import ApiClient

    # The admin's certificate, as for the node wait: the apiserver refuses clients without one.
    client = ApiClient.connect(plan.server, credentials=pki.admin_tls(plan.pki_dir).credentials())
    try:
        while time.monotonic() < deadline:
            try:
                await client.get(ServiceAccount, "default", "default")
                return
            except ApiError:
                await asyncio.sleep(0.2)
    finally:
        await client.close()
    raise UpError("the default ServiceAccount was not created in time; see the controller-manager log in "
                  + str(plan.data_dir / "logs"))


async def _publish_cluster_info(plan: ClusterPlan, settings: ClusterSettings, deadline: float) -> None:
    """kube-public/cluster-info for `kubelite join` discovery (signed by the controller-manager), with the
    node configuration a joining runc node needs (`addons.node_config`). Tried again until `deadline`
    while the apiserver does not answer: on an overloaded or emulated machine a TLS handshake can miss
    gRPC's connect deadline even after the apiserver reported ready."""
    from kubelite.api.clusterinfo import ClusterInfo
    from kubelite.api.errors import ServiceUnavailable
    from kubelite.bootstrap.publish import publish_cluster_info
    from kubelite.client import ApiClient

    ca = cert_path(plan.pki_dir, pki.CLUSTER_CA).read_bytes()
    info = ClusterInfo(plan.https_server, ca, plan.server, addons.node_config(plan, settings.pod_network, settings.tuning))
    client = ApiClient.connect(plan.server, credentials=pki.admin_tls(plan.pki_dir).credentials())
    try:
        while True:
            try:
                await publish_cluster_info(client, info)
                return
            except ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)  # a retry pause; the loop ends on success or the deadline
    finally:
        await client.close()


async def _down(data_dir: Path, grace: float, purge: bool) -> int:
    if not state_file(data_dir).exists():
        print(f"no cluster state in {data_dir}; nothing to stop")
        if purge:
            shutil.rmtree(data_dir, ignore_errors=True)
        return 0
    _, processes = load_state(data_dir)
    problems = await _teardown(data_dir, processes, grace, print)
    if problems:
        print("error: not everything could be removed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    _remove_kubeconfig(data_dir, print)
    state_file(data_dir).unlink(missing_ok=True)
    if purge:
        shutil.rmtree(data_dir, ignore_errors=True)
    print("kubelite is down: no process, mount, container, namespace or rule of it is left")
    return 0


async def _teardown(data_dir: Path, processes: list[RunningProcess], grace: float, say: Say) -> list[str]:
    """Stop the daemons and remove everything the cluster made; returns what is still left."""
    # Kubelets first (no new containers), then the containers themselves (runc ones
    # outlive their kubelet by design), then the control plane, storage last.
    await supervisecli.stop_supervisor(data_dir, grace, say)  # it stops what it started, restarts included
    if state_file(data_dir).exists():  # and it recorded every pid it started: check those
        processes = load_state(data_dir)[1]
    kubelets = [p for p in processes if p.name.startswith("kubelet-")]
    others = [p for p in processes if not p.name.startswith("kubelet-")]
    for proc in reversed(kubelets):
        killed = await stop_process(proc.pid, proc.start_ticks, grace)
        say(f"  {proc.name:<24} {'killed' if killed else 'stopped'}")
    removed = await asyncio.to_thread(cleanup.remove_runc_containers, data_dir)
    if removed:
        say(f"  {'containers':<24} {len(removed)} removed")
    for proc in reversed(others):
        killed = await stop_process(proc.pid, proc.start_ticks, grace)
        say(f"  {proc.name:<24} {'killed' if killed else 'stopped'}")
    problems = [f"still running: {p.name} (pid {p.pid})" for p in _alive(processes)]
    strays = cleanup.kill_cluster_processes(data_dir)
    strays += await asyncio.to_thread(cleanup.stop_ingress_nginx, data_dir)
    if strays:
        say(f"  {'stray processes':<24} {len(strays)} killed")
    problems += [f"mount left: {m}" for m in await asyncio.to_thread(cleanup.unmount_all, data_dir)]
    problems += [f"runc container left: {c}" for c in cleanup.remaining_runc_containers(data_dir)]
    nodes = sorted(p.name.removeprefix("kubelet-") for p in kubelets)
    offset = int((load_extra(data_dir).get("settings") or {}).get("port_offset", 0))
    busy = await asyncio.to_thread(cleanup.remove_cgroups, nodes, f"kubelite/{cluster_name(offset)}")
    if busy:
        say(f"  {'cgroups':<24} {len(busy)} still in use (another cluster's node?), left alone")
    extra = load_extra(data_dir)
    network = extra.get("network")
    if network:
        state = netns.NetworkState.from_dict(network)
        problems += await asyncio.to_thread(addons.cleanup_proxy_rules, state)
        if (extra.get("settings") or {}).get("pod_network") == "vxlan":
            problems += await remove_overlays(state)
        problems += await asyncio.to_thread(netns.delete_network, state)
        say(f"  {'network':<24} {state.bridge} and {len(state.nodes)} node namespace(s) removed")
    return problems


async def remove_overlays(state: netns.NetworkState) -> list[str]:
    """Delete each node's VTEP of this cluster (`--pod-network vxlan`); returns problems.

    Deleting a node's namespace would drop its VTEP too, but the overlay's own removal is
    what a node that outlives its namespace (a joined machine) relies on, so `down` uses it.
    """
    problems: list[str] = []
    for node in state.nodes:
        if not netns.netns_exists(node.netns):
            continue
        try:
            await remove_vtep(VxlanConfig(state.net_id), netns=node.netns)
        except Exception as exc:  # netlink or namespace trouble: reported, the rest of `down` goes on
            problems.append(f"VTEP of {node.name}: {exc}")
    return problems


async def _status(data_dir: Path) -> int:
    """Per component: the supervisor's state, pid, restarts and last exit, and a live health probe;
    a crash-looping component also gets the end of its log (a loop is shown, never hidden)."""
    if not state_file(data_dir).exists():
        print(f"no cluster in {data_dir}")
        return 1
    server, processes = load_state(data_dir)
    extra = load_extra(data_dir)
    supervised = supervisecli.status_lines(data_dir)
    sup = supervisecli.recorded_supervisor(data_dir)
    print(f"apiserver: {server}   runtime: {extra.get('runtime', 'process')}   supervisor: "
          + (f"pid {sup.pid}" if sup else "not running"))
    print(f"{'COMPONENT':<26}{'STATE':<11}{'PID':<9}{'RESTARTS':<10}{'LAST EXIT':<32}HEALTH")
    healthy = True
    loops = []
    for proc in processes:
        alive = is_same_process_alive(proc.pid, proc.start_ticks)
        if proc.name == "registry":  # HTTP (`up`) or HTTPS (`init`): the registry client tries both
            from kubelite import registry
            code = 200 if alive and await registry.registry_answers(proc.health) else None
        else:
            code = await http_get_status(proc.health, "/readyz", netns=proc.netns) if alive else None
        health = "ready" if code == 200 else ("not ready" if code else "unreachable")
        healthy = healthy and alive and code == 200
        info = supervised.get(proc.name, {})
        state = str(info.get("state") or ("Running" if alive else "Exited"))
        if state == "CrashLoop":
            loops.append(proc.name)
        print(f"{proc.name:<26}{state:<11}{proc.pid:<9}{info.get('restarts', '-')!s:<10}"
              f"{supervisecli.format_exit(info):<32}{health}")
    for name in loops:
        print(f"\n{name} is crash-looping; the end of its log:\n{supervisecli.log_tail(data_dir, name)}")
    return 0 if healthy else 1
