"""`kubelite controller-manager --server H:P --listen-health H:P [--log-level L] [--workers N]
[--controllers rs,deploy,gc]`.

Why so thin: the controllers are in-process objects (`ControllerManager`) that
tests drive directly; this adds flags, JSON logs, the health endpoint (ready
once the informers listed) and a graceful SIGTERM. Reconnecting to a
restarted apiserver is the informers' job; failed writes are retried by the
work queues, so the daemon itself never gives up.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
from pathlib import Path

from controllers.certificates.signplan import load_signing_ca
from controllers.manager import ControllerManager, parse_controllers
from controllers.servicelb.pool import PoolError, parse_pool
from kubelite.api.timeutil import parse_duration
from kubelite.client import ApiClient, add_client_flags, serve_elected, with_credentials
from kubelite.daemon import (
    HealthServer,
    Metrics,
    add_leader_election_flags,
    host_port,
    positive_seconds,
    run_daemon,
    setup_logging,
)

log = logging.getLogger("controller-manager")



def _controllers(text: str) -> list[str]:
    try:
        return parse_controllers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubelite controller-manager",
                                description="Runs the ReplicaSet, Deployment and garbage-collector controllers.")
    p.add_argument("--server", default="127.0.0.1:6443", help="apiserver address HOST:PORT")
    p.add_argument("--listen-health", default="127.0.0.1:10257", type=host_port,
                   help="HOST:PORT for /healthz, /readyz and /metrics")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--workers", type=_positive, default=2, help="concurrent reconciles per controller")
    p.add_argument("--controllers", type=_controllers, default=parse_controllers("*"),
                   help="comma-separated controllers to run, e.g. rs,deploy,gc,ipam (default: all)")
    p.add_argument("--node-monitor-grace-period", type=positive_seconds, default=40.0,
                   help="seconds without a node heartbeat before the node is Unknown and tainted unreachable")
    p.add_argument("--node-monitor-period", type=positive_seconds, default=5.0,
                   help="seconds between checks of every node's heartbeat")
    p.add_argument("--root-ca-file", default="", metavar="FILE",
                   help="cluster CA certificate (PEM) published as ConfigMap kube-root-ca.crt in every namespace")
    p.add_argument("--cluster-signing-cert-file", default="", metavar="FILE",
                   help="CA certificate that signs approved kubelet client CSRs (with --cluster-signing-key-file)")
    p.add_argument("--cluster-signing-key-file", default="", metavar="FILE", help="the key of that CA")
    p.add_argument("--cluster-signing-duration", default="8760h",
                   help="longest validity of a signed certificate, like 8760h (default: one year)")
    p.add_argument("--lb-pool", default="", metavar="CIDR",
                   help="addresses for Services of type LoadBalancer (servicelb); empty: they stay pending")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=positive_seconds, default=15.0,
                   help="seconds between two looks of the HPA controller at each autoscaler (default 15)")
    add_leader_election_flags(p, "kube-controller-manager")
    add_client_flags(p)
    args = with_credentials(p, argv)
    try:
        args.lb_pool = parse_pool(args.lb_pool) if args.lb_pool else []
    except PoolError as exc:
        p.error(str(exc))
    args.root_ca = ""
    if args.root_ca_file:
        try:
            args.root_ca = Path(args.root_ca_file).read_text()
        except OSError as exc:
            p.error(f"--root-ca-file: {exc.strerror or exc}")
    args.signing_ca = None
    if bool(args.cluster_signing_cert_file) != bool(args.cluster_signing_key_file):
        p.error("--cluster-signing-cert-file and --cluster-signing-key-file go together")
    if args.cluster_signing_cert_file:
        try:
            duration = dt.timedelta(seconds=parse_duration(args.cluster_signing_duration))
            args.signing_ca = load_signing_ca(args.cluster_signing_cert_file, args.cluster_signing_key_file,
                                              duration)
        except ValueError as exc:
            p.error(f"--cluster-signing-*: {exc}")
    return args


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    client = ApiClient.connect(args.server, credentials=args.credentials)
    metrics = Metrics()
    host, port = args.listen_health

    def build() -> ControllerManager:
        return ControllerManager(client, args.controllers, workers=args.workers, metrics=metrics,
                                 node_monitor_grace_period=args.node_monitor_grace_period,
                                 node_monitor_period=args.node_monitor_period, root_ca=args.root_ca,
                                 signing_ca=args.signing_ca, lb_pool=args.lb_pool,
                                 hpa_sync_seconds=args.horizontal_pod_autoscaler_sync_period)

    log.info("controller-manager starting", extra={"server": args.server, "controllers": args.controllers,
                                                   "leader_elect": bool(args.leader_elect)})
    await serve_elected(client, args, stop, HealthServer(host, port, metrics), "controllers", build)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("controller-manager", args.log_level)
    return run_daemon(lambda stop: serve(args, stop))
