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
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc

from kubelite.daemon import HealthServer, run_daemon, setup_logging
from kubelite.daemon.tls import TLSConfigError, server_credentials
from kvstore.membership import DEFAULT_TOKEN, parse_initial_cluster
from kvstore.peer import url_target
from kvstore.peertls import PeerTLS, load_peer_tls
from kvstore.server import KVStore, split_host_port
from kvstore.transport import PeerUnavailable
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


MAX_TICK_MS = 100
"""The Raft clock's resolution: elections are timed in ticks, so a heartbeat period longer
than this is counted in several ticks instead of making the election clock coarser."""


@dataclass(frozen=True)
class RaftTiming:
    tick_seconds: float
    heartbeat_ticks: int
    election_ticks: int


def raft_timing(heartbeat_ms: int, election_ms: int) -> RaftTiming:
    """Ticks for etcd's two flags (both in ms).

    Why not one tick per heartbeat, as before: a slower heartbeat (fewer idle messages)
    would then also coarsen the election timer and the read retries, which run on the tick.
    """
    if heartbeat_ms <= 0 or election_ms < 2 * heartbeat_ms:
        raise ValueError("--election-timeout must be at least twice --heartbeat-interval")
    heartbeat_ticks = -(-heartbeat_ms // MAX_TICK_MS)
    tick_ms = heartbeat_ms / heartbeat_ticks
    return RaftTiming(tick_ms / 1000, heartbeat_ticks, max(heartbeat_ticks + 1, round(election_ms / tick_ms)))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite kvstore", description="Raft-replicated key-value store speaking the etcd v3 API.")
    p.add_argument("--name", default="kv-1", help="member name (default kv-1)")
    p.add_argument("--data-dir", required=True, type=Path, help="WAL, snapshots and member identity")
    p.add_argument("--listen-client", default="127.0.0.1:2379", help="etcd v3 gRPC address HOST:PORT")
    p.add_argument("--listen-health", default="127.0.0.1:2381", help="/healthz /readyz /metrics HOST:PORT")
    p.add_argument("--listen-peer", default=None,
                   help="peer gRPC address HOST:PORT (default: the port of this member in --initial-cluster); "
                        "Raft messages use the port 2 above it")
    p.add_argument("--initial-cluster", default=None,
                   help="NAME=http://HOST:PORT,... every member's peer URL (omit for a single member)")
    p.add_argument("--initial-cluster-state", default="new", choices=["new", "existing"],
                   help="new: bootstrap with --initial-cluster; existing: join a running cluster "
                        "(after `etcdctl member add`)")
    p.add_argument("--initial-cluster-token", default=DEFAULT_TOKEN, help="distinguishes clusters (member ids)")
    p.add_argument("--snapshot-count", type=int, default=10_000, help="applied requests between snapshots (bounds WAL size and restart time)")
    p.add_argument("--snapshot-catchup-entries", type=int, default=5_000,
                   help="log entries kept after a snapshot for slow followers (older ones need a snapshot)")
    p.add_argument("--heartbeat-interval", type=int, default=100, help="ms between the leader's heartbeats (etcd's flag)")
    p.add_argument("--election-timeout", type=int, default=1000, help="Raft election timeout in ms")
    p.add_argument(
        "--auto-compaction-retention", default="1h", type=parse_retention,
        help="keep this much MVCC history, compact older (etcd periodic mode: N hours, or 30s/5m/1h; 0 = off)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    tls = p.add_argument_group("TLS (etcd's flags)")
    tls.add_argument("--cert-file", default=None, help="serve the client port over TLS with this certificate")
    tls.add_argument("--key-file", default=None, help="the key of --cert-file")
    tls.add_argument("--trusted-ca-file", default=None, help="CA of acceptable client certificates")
    tls.add_argument("--client-cert-auth", action="store_true",
                     help="refuse clients without a certificate signed by --trusted-ca-file")
    tls.add_argument("--peer-cert-file", default=None, help="TLS certificate of the peer port and towards peers")
    tls.add_argument("--peer-key-file", default=None, help="the key of --peer-cert-file")
    tls.add_argument("--peer-trusted-ca-file", default=None, help="CA of the other members' peer certificates")
    tls.add_argument("--peer-client-cert-auth", action="store_true",
                     help="refuse peers without a certificate signed by --peer-trusted-ca-file")
    return p


@dataclass
class KVStoreTLS:
    """KVStore's credentials from etcd's TLS flags (None: plaintext there)."""

    client_credentials: grpc.ServerCredentials | None = None
    peer: PeerTLS | None = None


def tls_from_args(args: argparse.Namespace) -> KVStoreTLS:
    """Check etcd's TLS flags and load the files they name."""
    out = KVStoreTLS()
    if (args.cert_file is None) != (args.key_file is None):
        raise TLSConfigError("--cert-file and --key-file go together")
    if args.client_cert_auth and (args.trusted_ca_file is None or args.cert_file is None):
        raise TLSConfigError("--client-cert-auth needs --trusted-ca-file, --cert-file and --key-file")
    if args.cert_file is not None:
        ca = args.trusted_ca_file if args.client_cert_auth else None
        out.client_credentials = server_credentials(args.cert_file, args.key_file, ca)
    if (args.peer_cert_file is None) != (args.peer_key_file is None):
        raise TLSConfigError("--peer-cert-file and --peer-key-file go together")
    if args.peer_cert_file is not None:
        if args.peer_trusted_ca_file is None:
            raise TLSConfigError("peer TLS needs --peer-trusted-ca-file (to verify the other members)")
        out.peer = load_peer_tls(args.peer_cert_file, args.peer_key_file, args.peer_trusted_ca_file,
                                 args.peer_client_cert_auth)
    elif args.peer_client_cert_auth:
        raise TLSConfigError("--peer-client-cert-auth needs --peer-cert-file and --peer-key-file")
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging("kvstore", args.log_level)
    try:
        health_host, health_port = split_host_port(args.listen_health)
        split_host_port(args.listen_client)
        listen_peer = args.listen_peer
        if args.initial_cluster:
            members = parse_initial_cluster(args.initial_cluster)
            mine = [u for n, u in members if n == args.name]
            if not mine:
                raise ValueError(f"--name {args.name!r} is not in --initial-cluster")
            if listen_peer is None:
                listen_peer = url_target(mine[0])
        if listen_peer is not None:
            split_host_port(listen_peer)
        timing = raft_timing(args.heartbeat_interval, args.election_timeout)
        tls = tls_from_args(args)
    except ValueError as exc:
        log.error("bad flags: %s", exc)
        return 2
    exit_code = 0

    async def run(stop: asyncio.Event) -> None:
        nonlocal exit_code
        kv = KVStore(
            args.data_dir, args.listen_client, args.name, snapshot_entries=args.snapshot_count,
            snapshot_catchup_entries=args.snapshot_catchup_entries,
            auto_compaction_retention=args.auto_compaction_retention, listen_peer=listen_peer,
            initial_cluster=args.initial_cluster, initial_cluster_state=args.initial_cluster_state,
            cluster_token=args.initial_cluster_token, tick_interval=timing.tick_seconds,
            election_ticks=timing.election_ticks, heartbeat_ticks=timing.heartbeat_ticks,
            client_credentials=tls.client_credentials, peer_tls=tls.peer,
        )
        health = HealthServer(health_host, health_port)
        health.add_check("kvstore", lambda: kv.node.disk_wait.problem() or (
            None if kv.ready else "replaying WAL / not serving yet"))
        metrics = health.metrics
        metrics.gauge("kvstore_revision", lambda: float(kv.node.store.revision), "current MVCC revision")
        metrics.gauge("kvstore_applied_index", lambda: float(kv.node.applied_index), "last applied log index")
        metrics.gauge("kvstore_wal_fsyncs", lambda: float(kv.node.wal_stats[0]), "WAL group commits since start")
        metrics.gauge("kvstore_wal_entries", lambda: float(kv.node.wal_stats[1]), "WAL entries written since start")
        metrics.gauge("kvstore_watchers", lambda: float(kv.node.hub.watcher_count), "open watchers")
        metrics.gauge("kvstore_raft_term", lambda: float(kv.node.term), "current Raft term")
        metrics.gauge("kvstore_is_leader", lambda: float(kv.node.is_leader), "1 on the Raft leader")
        metrics.gauge("kvstore_has_leader", lambda: float(kv.node.leader != 0), "1 when a leader is known")
        metrics.gauge("kvstore_raft_loop_turns", lambda: float(kv.node.stats["turns"]), "Raft loop turns since start")
        metrics.gauge("kvstore_raft_messages_sent", lambda: float(kv.node.stats["msgs"]), "Raft messages sent")
        metrics.gauge("kvstore_proposals", lambda: float(kv.node.stats["proposed"]), "requests proposed here")
        metrics.gauge("kvstore_storage_faults", lambda: float(kv.node.disk_wait.faults),
                      "disk write/fsync failures since start (each makes the member refuse writes until it recovers)")
        await health.start()
        try:
            await kv.start()
        except WalCorruptError as exc:
            log.critical("refusing to start: %s", exc)
            exit_code = 1
            await health.stop()
            return
        except (OSError, ValueError, PeerUnavailable) as exc:
            log.critical("cannot start kvstore: %s", exc)
            exit_code = 1
            await health.stop()
            return
        try:
            ended = await kv.serve_until(stop)
            if ended == "removed":
                log.warning("this member was removed from the cluster; shutting down")
            elif ended == "broken":
                log.critical("the Raft loop stopped; exiting so that the member restarts from its WAL")
                exit_code = 1
        finally:
            await kv.stop()
            await health.stop()

    # The WAL fsync and gRPC's poller run in threads; with the default 5 ms GIL
    # switch interval every hand-back to the event loop can wait that long.
    sys.setswitchinterval(float(os.environ.get("KVSTORE_SWITCH_INTERVAL", "0.0005")))
    rc = run_daemon(run)
    return exit_code or rc
