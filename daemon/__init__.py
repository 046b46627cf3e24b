"""Plumbing shared by every kubelite daemon: structured logs, the health/metrics
HTTP endpoint, and a SIGTERM-aware lifecycle.

Public surface::

    from daemon import setup_logging, HealthServer, Metrics, run_daemon, host_port
"""

from daemon.flags import host_port
from daemon.health import HealthServer
from daemon.lifecycle import run_daemon
from daemon.logs import setup_logging
from daemon.metrics import Metrics

__all__ = ["HealthServer", "Metrics", "host_port", "run_daemon", "setup_logging"]
