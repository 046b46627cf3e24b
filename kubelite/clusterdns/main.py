"""`kubelite dns --server H:P --listen IP:PORT --listen-health H:P [--domain cluster.local]`."""

from __future__ import annotations

import argparse
import asyncio
import logging

from kubelite.client import ApiClient, add_client_flags, with_credentials
from kubelite.clusterdns.server import ClusterDns
from kubelite.daemon import HealthServer, Metrics, host_port, run_daemon, setup_logging

log = logging.getLogger("dns")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite dns", description="Cluster DNS for Services and their endpoints.")
    p.add_argument("--server", default="127.0.0.1:6443", help="apiserver address HOST:PORT")
    p.add_argument("--listen", default="127.0.0.1:53", type=host_port, help="HOST:PORT to answer on (UDP and TCP)")
    p.add_argument("--listen-health", default="127.0.0.1:8081", type=host_port,
                   help="HOST:PORT for /healthz, /readyz and /metrics")
    p.add_argument("--domain", default="cluster.local", help="the cluster domain")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_client_flags(p)
    return with_credentials(p, argv)


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    client = ApiClient.connect(args.server, credentials=args.credentials)
    metrics = Metrics()
    host, port = args.listen
    dns = ClusterDns(client, host, port, domain=args.domain, metrics=metrics)
    health_host, health_port = args.listen_health
    health = HealthServer(health_host, health_port, metrics)
    health.add_check("informers", dns.ready_check)
    try:
        await dns.start()
        await health.start()
        log.info("cluster dns serving", extra={"listen": f"{dns.host}:{dns.port}", "domain": dns.domain})
        await stop.wait()
    finally:
        await dns.stop()
        await health.stop()
        await client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("dns", args.log_level)
    return run_daemon(lambda stop: serve(args, stop))
