"""`kubelite proxy --server H:P --node-name N --node-ip IP --listen-health H:P [--cleanup] ...`.

Runs on every node (inside the node's network namespace under `kubelite up`)
and programs that namespace's iptables. `--cleanup` removes everything it owns
and exits, without talking to the apiserver.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys

from kubelite.api.durations import duration
from kubelite.client import ApiClient, add_client_flags, with_credentials
from kubelite.daemon import HealthServer, Metrics, host_port, ip, run_daemon, setup_logging
from kubelite.proxy.iptables import Iptables, IptablesError
from kubelite.proxy.plan import plan_cleanup
from kubelite.proxy.proxier import Proxier, ProxyConfig
from kubelite.proxy.rules import FILTER, NAT

log = logging.getLogger("proxy")

def cidr(text: str) -> str:
    if not text:
        return ""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a CIDR like 10.244.0.0/16, got {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite proxy",
                                description="Programs iptables NAT rules for Services, like kube-proxy's iptables mode.")
    p.add_argument("--server", default="127.0.0.1:6443", help="apiserver address HOST:PORT")
    p.add_argument("--node-name", default="", help="name of this node (for logs)")
    p.add_argument("--node-ip", type=ip, default=None, help="this node's IP (for logs; NodePorts answer on every local address)")
    p.add_argument("--listen-health", type=host_port, default="127.0.0.1:10256",
                   help="HOST:PORT for /healthz, /readyz (ready after the first sync) and /metrics")
    p.add_argument("--cluster-cidr", type=cidr, default="10.244.0.0/16",
                   help="pod CIDR; ClusterIP traffic from outside it is masqueraded (empty: never)")
    p.add_argument("--sync-period", type=duration, default=30.0,
                   help="longest time between syncs (also checks the jump rules); e.g. 30s")
    p.add_argument("--min-sync-period", type=duration, default=0.0,
                   help="shortest time between syncs; changes in between are batched; e.g. 1s")
    p.add_argument("--full-sync-period", type=duration, default=3600.0,
                   help="how often every chain is rewritten even if unchanged; e.g. 1h")
    p.add_argument("--announce-lb", action="store_true",
                   help="add the LoadBalancer addresses this node owns to the interface holding --node-ip")
    p.add_argument("--cleanup", action="store_true", help="remove every chain and jump the proxy owns, then exit")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_client_flags(p)
    return with_credentials(p, argv)


async def cleanup(iptables: Iptables) -> int:
    """Remove all owned rules; returns the number of restore transactions run."""
    saves = {table: await iptables.save(table) for table in (NAT, FILTER)}
    payloads = plan_cleanup(saves)
    for payload in payloads:
        await iptables.restore(payload)
    return len(payloads)


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    client = ApiClient.connect(args.server, credentials=args.credentials)
    metrics = Metrics()
    config = ProxyConfig(node_name=args.node_name, node_ip=args.node_ip, cluster_cidr=args.cluster_cidr or None,
                         sync_period=args.sync_period, min_sync_period=args.min_sync_period,
                         full_sync_period=args.full_sync_period, announce_lb=args.announce_lb)
    proxier = Proxier(client, config, Iptables(), metrics)
    health_host, health_port = args.listen_health
    health = HealthServer(health_host, health_port, metrics)
    health.add_check("sync", proxier.ready_check)
    task: asyncio.Task[None] | None = None
    try:
        await health.start()
        log.info("proxy starting", extra={"node": args.node_name, "node_ip": args.node_ip, "server": args.server,
                                          "cluster_cidr": args.cluster_cidr, "health": f"{health.host}:{health.port}"})
        task = asyncio.create_task(proxier.run(), name="proxier")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            task.result()  # an unexpected end is an error worth its traceback in the log
        proxier.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10.0)
        except TimeoutError:
            log.warning("sync still running after 10s; cancelling it")
    finally:
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await health.stop()
        await client.close()
    log.info("proxy stopped; rules stay in place")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("proxy", args.log_level)
    if args.cleanup:
        try:
            n = asyncio.run(cleanup(Iptables()))
        except IptablesError as exc:
            print(f"kubelite proxy --cleanup: {exc}", file=sys.stderr)
            return 1
        log.info("cleanup done", extra={"transactions": n})
        return 0
    return run_daemon(lambda stop: serve(args, stop), spawns_processes=True)


if __name__ == "__main__":
    raise SystemExit(main())
