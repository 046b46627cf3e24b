"""`kubelite kubelet`: the node agent daemon.

    kubelite kubelet --server H:P --node-name N --node-ip IP --listen IP:P
                     --listen-health IP:P --data-dir D --runtime process
                     [--capacity-cpu N] [--capacity-memory Q] [--log-level L]

SIGTERM stops every container first (process-runtime containers must not
outlive the kubelet), then the servers; the exit code is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from api.quantity import cpu_millis, memory_bytes
from client import ApiClient
from daemon import HealthServer, run_daemon, setup_logging
from kubelet.agent import Kubelet, KubeletConfig
from kubelet.process_runtime import ProcessRuntime

log = logging.getLogger(__name__)

RUNTIMES = ("process", "runc")


class StartupError(Exception):
    """A problem the operator must fix (address in use, unwritable data dir): no traceback."""


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


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
    p.add_argument("--server", required=True, help="apiserver HOST:PORT")
    p.add_argument("--node-name", required=True)
    p.add_argument("--node-ip", required=True, help="the node's InternalIP (e.g. 127.0.0.11)")
    p.add_argument("--listen", required=True, type=_hostport, help="Kubelet gRPC API IP:PORT (logs)")
    p.add_argument("--listen-health", required=True, type=_hostport, help="/healthz /readyz /metrics IP:PORT")
    p.add_argument("--data-dir", required=True, type=Path, help="logs and working directories of pods")
    p.add_argument("--runtime", choices=RUNTIMES, default="process",
                   help="container runtime (only `process` is available in this version)")
    p.add_argument("--capacity-cpu", type=_quantity("cpu"), help="override the CPU capacity (default: cores)")
    p.add_argument("--capacity-memory", type=_quantity("memory"),
                   help="override the memory capacity (default: MemTotal)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


async def run_kubelet(args: argparse.Namespace, stop: asyncio.Event) -> None:
    health_host, health_port = args.listen_health
    listen_host, listen_port = args.listen
    health = HealthServer(health_host, health_port)
    client = ApiClient.connect(args.server)
    kubelet = Kubelet(
        client,
        ProcessRuntime(),
        KubeletConfig(
            node_name=args.node_name, node_ip=args.node_ip, listen=f"{listen_host}:{listen_port}",
            data_dir=args.data_dir.resolve(), capacity_cpu=args.capacity_cpu,
            capacity_memory=args.capacity_memory,
        ),
    )
    health.add_check("kubelet", kubelet.not_ready)
    health.metrics.gauge("kubelet_running_pods", lambda: float(len(kubelet.pods.workers)),
                         "pods this kubelet is running or stopping")
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
        await kubelet.stop()
        await client.close()
        await health.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.runtime != "process":
        print(
            f"kubelite kubelet: the {args.runtime!r} runtime is not available yet in this version; "
            "use --runtime process (containers run as host processes, without isolation)",
            file=sys.stderr,
        )
        return 2
    setup_logging("kubelet", args.log_level)
    try:
        return run_daemon(lambda stop: run_kubelet(args, stop))
    except StartupError as exc:
        log.error("kubelet failed to start: %s", exc)
        print(f"kubelite kubelet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
