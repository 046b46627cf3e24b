"""`kubelite apiserver`: the resource API daemon.

    kubelite apiserver --etcd-servers H:P[,H:P] --listen H:P --listen-health H:P [--log-level L]

Serves `kubelite.v1.Resources` on --listen, `/healthz`, `/readyz` and
`/metrics` on --listen-health; `/readyz` fails until the store is reachable,
every watch cache has synced and the system namespaces exist. SIGTERM stops it
gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from apiserver.server import ApiServer
from kubelite.daemon import HealthServer, Metrics, run_daemon, setup_logging

log = logging.getLogger("apiserver")


def split_host_port(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{flag} must be HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubelite apiserver", description="kubelite resource API server")
    parser.add_argument("--etcd-servers", default="127.0.0.1:2379",
                        help="comma-separated etcd v3 endpoints HOST:PORT (kubelite kvstore or etcd)")
    parser.add_argument("--listen", default="127.0.0.1:6443", help="HOST:PORT for the gRPC API")
    parser.add_argument("--listen-health", default="127.0.0.1:6080", help="HOST:PORT for /healthz /readyz /metrics")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--default-not-ready-toleration-seconds", type=int, default=30,
                        help="seconds a pod without its own toleration stays on a NotReady node before eviction")
    parser.add_argument("--default-unreachable-toleration-seconds", type=int, default=30,
                        help="seconds a pod without its own toleration stays on an unreachable node before eviction")
    parser.add_argument("--pod-security-default", default="privileged",
                        choices=["privileged", "baseline", "restricted"],
                        help="Pod Security level enforced in namespaces without a "
                             "pod-security.kubernetes.io/enforce label (kube-system is exempt)")
    args = parser.parse_args(argv)
    if args.default_not_ready_toleration_seconds < 0 or args.default_unreachable_toleration_seconds < 0:
        parser.error("toleration seconds must be >= 0")
    args.etcd_endpoints = [e.strip() for e in args.etcd_servers.split(",") if e.strip()]
    if not args.etcd_endpoints:
        parser.error("--etcd-servers needs at least one endpoint")
    try:
        split_host_port(args.listen, "--listen")
        args.health = split_host_port(args.listen_health, "--listen-health")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("apiserver", args.log_level)

    async def run(stop: asyncio.Event) -> None:
        metrics = Metrics()
        server = ApiServer(args.etcd_endpoints, args.listen, metrics=metrics,
                           default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
                           default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
                           pod_security_default=args.pod_security_default)
        health = HealthServer(args.health[0], args.health[1], metrics)
        health.add_check("apiserver", server.not_ready)
        await server.start(wait_ready=False)
        try:
            await health.start()
            await stop.wait()
        finally:
            await health.stop()
            await server.stop()

    try:
        return run_daemon(run)
    except OSError as exc:
        log.error("apiserver failed to start", extra={"error": str(exc)})
        return 1
