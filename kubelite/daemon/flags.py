"""Command-line value types shared by the daemons.

Why here: every daemon takes `--listen-health HOST:PORT`; one parser keeps the
accepted forms and the error message the same everywhere.
"""

from __future__ import annotations

import argparse
import ipaddress


def ip(text: str) -> str:
    """argparse type for an IP address (`--node-ip`), normalised (the proxy's and the ingress
    controller's flag: the ingress controller parses it without importing the proxy)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {text!r}") from None


def host_port(text: str) -> tuple[str, int]:
    """argparse type for `HOST:PORT`; an empty host means 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def positive_seconds(text: str) -> float:
    """argparse type for a duration in seconds (`15` or `15s`), > 0."""
    value = text.strip().removesuffix("s")
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds like 15 or 15s, got {text!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return seconds


def add_leader_election_flags(p: argparse.ArgumentParser, lease_name: str) -> None:
    """The kube-scheduler / kube-controller-manager leader-election flags, same names and defaults."""
    p.add_argument("--leader-elect", default=True, action=argparse.BooleanOptionalAction,
                   help="act only while holding the leader Lease (run several instances for availability)")
    p.add_argument("--leader-elect-resource-name", default=lease_name, help="name of the Lease in kube-system")
    p.add_argument("--leader-elect-lease-duration", type=positive_seconds, default=15.0,
                   help="seconds a standby waits after the leader's last renewal before taking over")
    p.add_argument("--leader-elect-renew-deadline", type=positive_seconds, default=10.0,
                   help="seconds the leader keeps trying to renew before it stops acting")
    p.add_argument("--leader-elect-retry-period", type=positive_seconds, default=2.0,
                   help="seconds between acquire/renew attempts")
