"""Plumbing shared by every kubelite daemon: structured logs, the health/metrics
HTTP endpoint, and a SIGTERM-aware lifecycle.

Public surface::

    from kubelite.daemon import setup_logging, HealthServer, Metrics, run_daemon, host_port, ip,
    add_leader_election_flags
"""

from kubelite.daemon.flags import add_leader_election_flags, host_port, ip, positive_seconds
from kubelite.daemon.health import HealthServer
from kubelite.daemon.lifecycle import run_daemon
from kubelite.daemon.logs import setup_logging
from kubelite.daemon.metrics import Metrics

__all__ = ["HealthServer", "add_leader_election_flags", "Metrics", "host_port", "ip",
    "positive_seconds", "run_daemon", "setup_logging"]
