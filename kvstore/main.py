"""`kubelite kvstore`: run one kvstore member as a daemon.

Why the explicit exit code: a damaged WAL must stop the daemon with a clear
message and a non-zero status (a supervisor must not keep restarting a store
that would serve data with holes); everything else shuts down via SIGTERM with
exit 0 through `daemon.run_daemon`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from daemon import HealthServer, run_daemon, setup_logging
from kvstore.server import KVStore, split_host_port
from kvstore.wal import WalCorruptError

log = logging.getLogger(__name__)


def parse_retention(text: str) -> float:
    """etcd's --auto-compaction-retention: a bare number is hours; else a 's'/'m'/'h' duration."""
    text = text.strip()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        if text and text[-1] in units:
            value = float(text[:-1]) * units[text[-1]]
        else:
            value = float(text) * 3600.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad retention {text!r}; use e.g. 1 (hour), 30s, 5m, 2h") from None
    if value < 0:
        raise argparse.ArgumentTypeError("retention must be >= 0")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite kvstore", description="Key-value store speaking the etcd v3 API.")
    p.add_argument("--name", default="kv-1", help="member name (default kv-1)")
    p.add_argument("--data-dir", required=True, type=Path, help="WAL, snapshots and member identity")
    p.add_argument("--listen-client", default="127.0.0.1:2379", help="etcd v3 gRPC address HOST:PORT")
    p.add_argument("--listen-health", default="127.0.0.1:2381", help="/healthz /readyz /metrics HOST:PORT")
    p.add_argument("--snapshot-count", type=int, default=10_000, help="applied entries between snapshots")
    p.add_argument(
        "--auto-compaction-retention", default="1h", type=parse_retention,
        help="keep this much MVCC history, compact older (etcd periodic mode: N hours, or 30s/5m/1h; 0 = off)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging("kvstore", args.log_level)
    try:
        health_host, health_port = split_host_port(args.listen_health)
        split_host_port(args.listen_client)
    except ValueError as exc:
        log.error("bad address", extra={"error": str(exc)})
        return 2
    exit_code = 0

    async def run(stop: asyncio.Event) -> None:
        nonlocal exit_code
        kv = KVStore(
            args.data_dir, args.listen_client, args.name, snapshot_entries=args.snapshot_count,
            auto_compaction_retention=args.auto_compaction_retention,
        )
        health = HealthServer(health_host, health_port)
        health.add_check("kvstore", lambda: None if kv.ready else "replaying WAL / not serving yet")
        metrics = health.metrics
        metrics.gauge("kvstore_revision", lambda: float(kv.node.store.revision), "current MVCC revision")
        metrics.gauge("kvstore_applied_index", lambda: float(kv.node.applied_index), "last applied log index")
        metrics.gauge("kvstore_wal_fsyncs", lambda: float(kv.node.wal_stats[0]), "WAL group commits since start")
        metrics.gauge("kvstore_wal_entries", lambda: float(kv.node.wal_stats[1]), "WAL entries written since start")
        metrics.gauge("kvstore_watchers", lambda: float(kv.node.hub.watcher_count), "open watchers")
        await health.start()
        try:
            await kv.start()
        except WalCorruptError as exc:
            log.critical("refusing to start: %s", exc)
            exit_code = 1
            await health.stop()
            return
        except OSError as exc:
            log.critical("cannot start kvstore: %s", exc)
            exit_code = 1
            await health.stop()
            return
        try:
            await stop.wait()
        finally:
            await kv.stop()
            await health.stop()

    rc = run_daemon(run)
    return exit_code or rc
