"""`kubelite apiserver`: the resource API daemon.

    kubelite apiserver --etcd-servers H:P[,H:P] --listen H:P --listen-health H:P [--log-level L]
                       [--encryption-provider-config FILE]

Serves `kubelite.v1.Resources` on --listen, `/healthz`, `/readyz` and
`/metrics` on --listen-health; `/readyz` fails until the store is reachable,
every watch cache has synced and the system namespaces exist. SIGTERM stops it
gracefully. With --encryption-provider-config (Kubernetes' EncryptionConfiguration,
see `apiserver.encryption`) the configured resources are encrypted at rest; a
bad file stops the daemon at once with the file and field in the message.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from apiserver.encryption import EncryptionConfigError, load_config
from apiserver.server import ApiServer
from apiserver.serviceaccount import config as sa_config
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
    parser.add_argument("--encryption-provider-config", default="", metavar="FILE",
                        help="EncryptionConfiguration file: which resources are encrypted at rest, with which keys")
    sa_config.add_flags(parser)
    parser.add_argument("--disable-admission-plugins", default="", metavar="A,B",
                        help="admission plugins to turn off (ServiceAccount)")
    parser.add_argument("--advertise-address", default="", metavar="IP",
                        help="IP published in the default/kubernetes Endpoints (default: the --listen host; "
                             "'none' publishes no kubernetes Service)")
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
    disabled = {p.strip() for p in args.disable_admission_plugins.split(",") if p.strip()}
    unknown = disabled - {"ServiceAccount"}
    if unknown:
        parser.error(f"--disable-admission-plugins: unknown plugin(s) {', '.join(sorted(unknown))}")
    args.service_account_admission = "ServiceAccount" not in disabled
    try:
        args.service_accounts = sa_config.from_args(args)
    except sa_config.KeyFileError as exc:
        parser.error(f"service account keys: {exc}")
    if args.advertise_address == "":
        host = args.listen.rpartition(":")[0].strip("[]")
        args.advertise_address = "" if host in ("", "0.0.0.0", "::") else host
    elif args.advertise_address == "none":
        args.advertise_address = ""
    args.encryption = None
    if args.encryption_provider_config:
        try:
            args.encryption = load_config(args.encryption_provider_config)
        except EncryptionConfigError as exc:
            parser.error(f"--encryption-provider-config: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("apiserver", args.log_level)

    async def run(stop: asyncio.Event) -> None:
        metrics = Metrics()
        server = ApiServer(args.etcd_endpoints, args.listen, metrics=metrics,
                           default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
                           default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
                           encryption=args.encryption, service_accounts=args.service_accounts,
                           service_account_admission=args.service_account_admission,
                           advertise_address=args.advertise_address)
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
