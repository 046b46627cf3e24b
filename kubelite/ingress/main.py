"""`kubelite ingress --server H:P --node-name N --node-ip IP --data-dir D --listen-health H:P ...`.

The nginx ingress agent of one node (started by `kubelite up` in every node's
network namespace). nginx's files live under `<data-dir>/ingress/<node>`; on
stop nginx quits gracefully, so `kubelite down` leaves nothing running.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from kubelite.client import ApiClient, add_client_flags, with_credentials
from kubelite.daemon import HealthServer, Metrics, host_port, ip, run_daemon, setup_logging
from kubelite.ingress.agent import AgentConfig, IngressAgent
from kubelite.ingress.nginxplan import Paths

log = logging.getLogger("ingress")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite ingress",
                                description="Serves Ingresses with real nginx on this node's IP (ports 80/443).")
    p.add_argument("--server", default="127.0.0.1:6443", help="apiserver address HOST:PORT")
    p.add_argument("--node-name", required=True, help="name of this node")
    p.add_argument("--node-ip", type=ip, required=True, help="the address nginx listens on")
    p.add_argument("--data-dir", type=Path, required=True, help="cluster data dir (nginx files go under it)")
    p.add_argument("--http-port", type=int, default=80)
    p.add_argument("--https-port", type=int, default=443)
    p.add_argument("--listen-health", type=host_port, default="127.0.0.1:10258",
                   help="HOST:PORT for /healthz, /readyz (ready once nginx serves the first configuration)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_client_flags(p)
    return with_credentials(p, argv)


def paths_for(data_dir: Path, node: str) -> Paths:
    prefix = data_dir.resolve() / "ingress" / node
    return Paths(str(prefix), str(prefix / "certs"))


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    client = ApiClient.connect(args.server, credentials=args.credentials)
    config = AgentConfig(args.node_name, args.node_ip, paths_for(args.data_dir, args.node_name),
                         args.http_port, args.https_port)
    agent = IngressAgent(client, config)
    health_host, health_port = args.listen_health
    health = HealthServer(health_host, health_port, Metrics())
    health.add_check("nginx", agent.ready_check)
    task: asyncio.Task[None] | None = None
    try:
        await health.start()
        log.info("ingress agent starting", extra={"node": args.node_name, "node_ip": args.node_ip})
        task = asyncio.create_task(agent.run(), name="ingress-agent")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            task.result()
    finally:
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await agent.stop()
        await health.stop()
        await client.close()
    log.info("ingress agent stopped; nginx quit")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("ingress", args.log_level)
    return run_daemon(lambda stop: serve(args, stop), spawns_processes=True)


if __name__ == "__main__":
    raise SystemExit(main())
