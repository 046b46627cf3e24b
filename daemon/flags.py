"""Command-line value types shared by the daemons.

Why here: every daemon takes `--listen-health HOST:PORT`; one parser keeps the
accepted forms and the error message the same everywhere.
"""

from __future__ import annotations

import argparse


def host_port(text: str) -> tuple[str, int]:
    """argparse type for `HOST:PORT`; an empty host means 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)
