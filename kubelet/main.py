"""`kubelite kubelet`: the node agent daemon.

    kubelite kubelet --server H:P --node-name N --node-ip IP --listen IP:P
                     --listen-health IP:P --data-dir D [--runtime auto|runc|process]
                     [--default-registry HOST:PORT] [--cni-plugin-dir DIR]
                     [--pod-network host-gw|vxlan [--net-id N] [--vxlan-port P]]
                     [--capacity-cpu N] [--capacity-memory Q] [--log-level L]
                     [--tls-cert-file F --tls-private-key-file F [--client-ca-file CA]]
                     [--cacert CA --cert F --key F]

With --client-ca-file the Kubelet API requires client certificates of that CA
and serves only the apiserver's `apiserver-kubelet-client` identity;
--cacert/--cert/--key are this kubelet's TLS identity towards the apiserver.

Runtime: `auto` picks `runc` where it works (root, runc, conmon, cgroup v1
memory controller) and otherwise the `process` runtime, saying why. SIGTERM
stops the process runtime's containers (they cannot outlive the kubelet) but
leaves runc containers running under conmon for the next kubelet to re-adopt;
then the servers stop; the exit code is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kubelet import runc
from kubelet.agent import Kubelet, KubeletConfig
from kubelet.cni import CniNetwork
from kubelet.images import ImageStore
from kubelet.node import LEASE_DURATION_SECONDS
from kubelet.overlay.model import BACKEND_HOST_GW, BACKEND_VXLAN, BACKENDS, DEFAULT_PORT, VxlanConfig
from kubelet.process_runtime import ProcessRuntime
from kubelet.runtime import Runtime
from kubelet.server import API_USERS
from kubelet.stats import metric_families
from kubelite.api import Node
from kubelite.api.errors import ApiError
from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite.client import ApiClient, ClientTLSError, add_client_flags, credentials_from_args
from kubelite.client.transport import GrpcTransport
from kubelite.daemon import HealthServer, run_daemon, setup_logging
from kubelite.daemon.tls import TLSConfigError, add_serving_flags, serving_from_args

if TYPE_CHECKING:
    from kubelet.tlsbootstrap import CertFiles, TlsBootstrap

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "runc", "process")
CNI_PLUGIN_DIR = "/usr/lib/cni"


class StartupError(Exception):
    """A problem the operator must fix (address in use, unwritable data dir): no traceback."""


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _net_id(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 255:
        raise argparse.ArgumentTypeError(f"expected a network id 0..255, got {text!r}")
    return int(text)


def _lease_duration(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected whole seconds >= 1, got {text!r}")
    return int(text)


def _quantity(check: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            (cpu_millis if check == "cpu" else memory_bytes)(text)
        except Exception:
            raise argparse.ArgumentTypeError(f"not a valid {check} quantity: {text!r}") from None
        return text

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite kubelet", description="node agent: registers a node and runs its pods")
    p.add_argument("--server", default="", help="apiserver HOST:PORT (default with --bootstrap-kubeconfig: the "
                   "gRPC address it names)")
    p.add_argument("--node-name", required=True)
    p.add_argument("--node-ip", required=True, help="the node's InternalIP (e.g. 127.0.0.11)")
    p.add_argument("--listen", required=True, type=_hostport, help="Kubelet gRPC API IP:PORT (logs)")
    p.add_argument("--listen-health", required=True, type=_hostport, help="/healthz /readyz /metrics IP:PORT")
    p.add_argument("--data-dir", required=True, type=Path, help="logs and working directories of pods")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="container runtime: runc (isolated containers; needs root, runc, conmon), process "
                        "(host processes, no isolation), auto (runc where it works)")
    p.add_argument("--default-registry", metavar="HOST:PORT", default=None,
                   help="registry for image names without one (e.g. busybox -> HOST:PORT/library/busybox)")
    p.add_argument("--registry-ca-file", type=Path, default=None, metavar="FILE",
                   help="verify registries' TLS with this CA (a joined node: the cluster CA, for the cluster "
                        "registry); the default registry is then no longer taken as plain HTTP")
    p.add_argument("--cni-plugin-dir", default=CNI_PLUGIN_DIR,
                   help="CNI plugin binaries for pod networking (runc runtime)")
    p.add_argument("--pod-network", choices=BACKENDS, default=BACKEND_HOST_GW,
                   help="how pods reach other nodes' pods (runc runtime): host-gw routes via the node IPs "
                        "(nodes on one L2 segment) or a VXLAN overlay (nodes only need routable IPs)")
    p.add_argument("--net-id", type=_net_id, default=0, metavar="0..255",
                   help="the cluster's network id: names the VTEP kl-vx<ID> and picks its VNI, so two "
                        "clusters on one host never share an overlay")
    p.add_argument("--vxlan-port", type=int, default=DEFAULT_PORT, help="UDP port of the VXLAN overlay")
    p.add_argument("--capacity-cpu", type=_quantity("cpu"), help="override the CPU capacity (default: cores)")
    p.add_argument("--capacity-memory", type=_quantity("memory"),
                   help="override the memory capacity (default: MemTotal)")
    p.add_argument("--cluster-dns", default="", metavar="IP[,IP]",
                   help="cluster DNS server(s) for pods' resolv.conf (dnsPolicy ClusterFirst)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    p.add_argument("--pod-max-pids", type=int, default=4096,
                   help="pids limit of each pod, all its containers together (runc runtime: pids.max of a pod "
                        "cgroup that is its containers' parent; -1: unlimited), so a fork "
                        "bomb stops at the limit instead of exhausting the node. Kubernetes leaves it "
                        "unlimited by default; 4096 stops a fork bomb and leaves room for a busy "
                        "container whose PID 1 does not reap orphans (1024 was hit by such loops)")
    p.add_argument("--cgroup-parent", default="",
                   help="runc runtime: the cgroup its pods live under (default kubelite/NODE_NAME; `kubelite up` "
                        "gives kubelite/CLUSTER/NODE_NAME so two clusters' nodes of one name never share one)")
    p.add_argument("--seccomp-dir", type=Path, default=None,
                   help="where seccompProfile type Localhost profiles are read from (default: DATA_DIR/seccomp)")
    p.add_argument("--node-lease-duration-seconds", type=_lease_duration, default=LEASE_DURATION_SECONDS,
                   metavar="SECONDS", help="the node Lease's duration, renewed every quarter of it (Kubernetes' "
                   f"nodeLeaseDurationSeconds, default {LEASE_DURATION_SECONDS}); keep it at most the "
                   "controller-manager's --node-monitor-grace-period")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_serving_flags(p, "the Kubelet API (exec, logs)")
    add_client_flags(p)
    p.add_argument("--bootstrap-kubeconfig", type=Path, default=None, metavar="FILE",
                   help="TLS bootstrap: without a usable client certificate in --cert-dir, request one with the "
                        "bootstrap token of this kubeconfig (a CSR), then renew it before it expires")
    p.add_argument("--cert-dir", type=Path, default=None, metavar="DIR",
                   help="where the bootstrapped client certificate and key are kept (default: DATA_DIR/pki)")
    return p


def select_runtime(requested: str, unavailable: str | None) -> tuple[str, str | None]:
    """(runtime to use, message for the operator). `unavailable` is why runc cannot run
    here (None: it can). Asking for runc where it cannot run is an error (message, no runtime)."""
    if requested == "process":
        return "process", None
    if unavailable is None:
        return "runc", None
    if requested == "runc":
        return "", f"the runc runtime cannot run here: {unavailable}; use --runtime process or auto"
    return "process", (f"runc runtime unavailable ({unavailable}): using the process runtime; "
                       "containers run as host processes without isolation")


def _build(args: argparse.Namespace, runtime_name: str) -> Kubelet:
    """Runtime, image store and pod network for the chosen runtime, assembled into a Kubelet."""
    data_dir: Path = args.data_dir.resolve()
    listen_host, listen_port = args.listen
    cfg = KubeletConfig(
        node_name=args.node_name, node_ip=args.node_ip, listen=f"{listen_host}:{listen_port}",
        data_dir=data_dir, capacity_cpu=args.capacity_cpu, capacity_memory=args.capacity_memory,
        cluster_dns=tuple(ip.strip() for ip in args.cluster_dns.split(",") if ip.strip()),
        cluster_domain=args.cluster_domain, tls=args.tls,
        api_users=API_USERS if args.client_ca_file else None,
        overlay=VxlanConfig(args.net_id, args.vxlan_port) if args.pod_network == BACKEND_VXLAN else None,
        lease_duration_seconds=args.node_lease_duration_seconds,
    )
    client = ApiClient.connect(args.server, credentials=args.credentials)
    if runtime_name == "process":
        return Kubelet(client, ProcessRuntime(host_ip=args.node_ip), cfg)
    store_kw = {"default_registry": args.default_registry} if args.default_registry else {}
    images = ImageStore(data_dir / "images", ca_file=args.registry_ca_file, **store_kw)
    holder: list[Kubelet] = []

    async def pod_cidr() -> str:
        """The node's podCIDR, known once the node-IPAM controller assigned it (pods, hence
        CNI ADDs, only come after `Kubelet.start` created the node agent)."""
        node = holder[0].node if holder else None
        if node is None:
            raise RuntimeError("the node agent is not running yet")
        return await node.wait_pod_cidr()

    async def pod_mtu() -> int | None:
        """The overlay's pod MTU (public MTU - 50); None for host-gw (the plugin's default)."""
        node = holder[0].node if holder else None
        return await node.overlay.pod_mtu() if node is not None and node.overlay is not None else None

    network: CniNetwork | None = None
    if (Path(args.cni_plugin_dir) / "bridge").exists():
        network = CniNetwork(pod_cidr, plugin_dir=args.cni_plugin_dir, state_dir=data_dir / "cni",
                             mtu_source=pod_mtu)
    else:
        log.warning("no CNI bridge plugin in %s: pods get only a loopback interface", args.cni_plugin_dir)

    async def resolve(ref: str) -> runc.ImageLike:
        return await images.ensure(ref, "IfNotPresent", None, None)

    runtime: Runtime = runc.RuncRuntime(
        data_dir / "runc", resolve, network, node_ip=args.node_ip,
        cgroup_parent=args.cgroup_parent or f"kubelite/{args.node_name}",
        pod_max_pids=max(0, args.pod_max_pids), seccomp_dir=(args.seccomp_dir or data_dir / "seccomp").resolve(),
    )
    kubelet = Kubelet(client, runtime, cfg, images=images)
    holder.append(kubelet)
    return kubelet


async def _bootstrap(args: argparse.Namespace) -> TlsBootstrap | None:
    """With --bootstrap-kubeconfig: this node's client certificate (bootstrapped now if needed) and,
    unless a serving pair was given, its Kubelet API serving certificate (`servingcert`)."""
    args.serving = None
    if args.bootstrap_kubeconfig is None:
        return None
    # Only a joining node bootstraps: `up`'s kubelets are given certificates and never import cryptography.
    from kubelet.servingcert import ServingCertificate
    from kubelet.tlsbootstrap import BootstrapError, TlsBootstrap

    try:
        boot = TlsBootstrap(args.node_name, args.cert_dir or args.data_dir.resolve() / "pki", args.bootstrap_kubeconfig)
        files = await boot.ensure()
        args.credentials = files.tls().credentials()
    except (BootstrapError, ApiError, OSError) as exc:
        raise StartupError(f"TLS bootstrap failed: {exc}") from None
    if not args.server:
        args.server = boot.cluster.grpc_server
    if args.tls is None:  # no serving pair given: never serve the Kubelet API without client certificates
        args.serving = ServingCertificate(boot, args.node_ip)
        args.client_ca_file = str(files.ca)
        args.tls = args.serving.credentials()
    return boot


def _rotate(client: ApiClient) -> Callable[[CertFiles], None]:
    def rotated(files: CertFiles) -> None:
        if isinstance(client.transport, GrpcTransport):
            client.transport.rotate_credentials(files.tls().credentials())
        log.info("switched to the renewed client certificate", extra={"cert": str(files.cert)})
    return rotated


async def run_kubelet(args: argparse.Namespace, stop: asyncio.Event) -> None:
    health_host, health_port = args.listen_health
    health = HealthServer(health_host, health_port)
    boot = await _bootstrap(args)
    if not args.server:
        raise StartupError("no apiserver: give --server (or a --bootstrap-kubeconfig naming the gRPC server)")
    kubelet = _build(args, args.runtime_name)
    renewals: list[asyncio.Task[None]] = []
    if boot is not None:
        renewals.append(asyncio.create_task(boot.renew_forever(_rotate(kubelet.client))))
    if args.serving is not None:
        async def registered() -> bool:
            try:
                await kubelet.client.get(Node, args.node_name, "")
                return True
            except ApiError:
                return False

        renewals.append(asyncio.create_task(args.serving.keep_issued(registered)))
    client = kubelet.client
    health.add_check("kubelet", kubelet.not_ready)
    health.metrics.gauge("kubelet_running_pods", lambda: float(len(kubelet.pods.workers)),
                         "pods this kubelet is running or stopping")
    health.metrics.collector(lambda: metric_families(kubelet.stats.sample()))
    try:
        await health.start()
    except OSError as exc:
        await client.close()
        raise StartupError(f"cannot serve health on {health_host}:{health_port}: {exc.strerror or exc}") from None
    try:
        try:
            await kubelet.start()
        except OSError as exc:
            raise StartupError(f"cannot start: {exc.strerror or exc}") from None
        log.info("kubelet started", extra={"node": args.node_name, "server": args.server})
        await stop.wait()
    finally:
        for task in renewals:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await kubelet.stop()
        await client.close()
        await health.stop()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.tls = serving_from_args(args)
        args.credentials = credentials_from_args(args)
    except (TLSConfigError, ClientTLSError) as exc:
        parser.error(str(exc))
    if args.bootstrap_kubeconfig is not None and (args.cert or args.key):
        parser.error("give either --cert/--key or --bootstrap-kubeconfig (which obtains them)")
    if args.bootstrap_kubeconfig is None and not args.server:
        parser.error("--server is required (or --bootstrap-kubeconfig)")
    name, message = select_runtime(args.runtime, None if args.runtime == "process" else runc.available())
    if not name:
        print(f"kubelite kubelet: {message}", file=sys.stderr)
        return 2
    args.runtime_name = name
    setup_logging("kubelet", args.log_level)
    if message:
        log.warning(message)
    try:
        return run_daemon(lambda stop: run_kubelet(args, stop), spawns_processes=True)
    except StartupError as exc:
        log.error("kubelet failed to start: %s", exc)
        print(f"kubelite kubelet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
