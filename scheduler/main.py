"""`kubelite scheduler --server H:P --listen-health H:P [--log-level L]`.

Why so thin: the scheduler itself (scheduler.scheduler) is an in-process
object that tests drive directly; this module only adds what a daemon needs --
flags, JSON logs, the health endpoint (ready once the informers have listed),
and a graceful stop on SIGTERM. Reconnecting to a restarted apiserver is the
informers' job.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import random

from kubelite.client import ApiClient, add_client_flags, serve_elected, with_credentials
from kubelite.daemon import (
    HealthServer,
    Metrics,
    add_leader_election_flags,
    host_port,
    run_daemon,
    setup_logging,
)
from kubelite.daemon.gctuning import tune_for_server
from scheduler.scheduler import Scheduler

log = logging.getLogger("scheduler")


def settle_heap() -> None:
    """Once the informers have listed: the cache (every node and pod model) moves to the permanent
    generation and young collections run every 50,000 allocations, as in the apiserver. Profiled under
    `bench/scheduler.py --phase backlog` (py-spy --native) the collector was ~28 % of the busy CPU: every pod's
    watch events, bind and Event allocate hundreds of short-lived objects, and each young collection
    and the older ones after it walked the growing cache of models again. Unfreezing first keeps a
    new term of leadership from pinning the last term's scheduler (its cycles) in the frozen set."""
    gc.unfreeze()
    tune_for_server()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite scheduler", description="Binds pending pods to nodes.")
    p.add_argument("--server", default="127.0.0.1:6443", help="apiserver address HOST:PORT")
    p.add_argument("--listen-health", default="127.0.0.1:10259", type=host_port,
                   help="HOST:PORT for /healthz, /readyz and /metrics")
    p.add_argument("--log-level", default="info", type=str.lower, choices=["debug", "info", "warning", "error"])
    p.add_argument("--scheduler-name", default="default-scheduler",
                   help="schedule only pods whose spec.schedulerName is this")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                   help="share of nodes to find feasible before scoring; 0 = adaptive")
    p.add_argument("--seed", type=int, default=None, help="seed for tie-breaking between equal nodes")
    add_leader_election_flags(p, "kube-scheduler")
    add_client_flags(p)
    return with_credentials(p, argv)


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    client = ApiClient.connect(args.server, credentials=args.credentials)
    metrics = Metrics()
    host, port = args.listen_health

    def build() -> Scheduler:
        return Scheduler(client, scheduler_name=args.scheduler_name, metrics=metrics,
                         rng=random.Random(args.seed),
                         percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
                         on_synced=settle_heap)

    log.info("scheduler starting", extra={"server": args.server, "leader_elect": bool(args.leader_elect)})
    await serve_elected(client, args, stop, HealthServer(host, port, metrics), "informers-synced", build)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("scheduler", args.log_level)
    return run_daemon(lambda stop: serve(args, stop))
