"""Print the simulator's seed range at the end of every run, so a failure can be replayed."""

from __future__ import annotations

import pytest

from tests.sim.seeds import FIRST_ENV, moving_first


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(r.nodeid.startswith("tests/sim/") for rs in terminalreporter.stats.values()
               for r in rs if hasattr(r, "nodeid")):
        return
    first, source = moving_first()
    terminalreporter.write_line(
        f"raft simulator: moving seed range starts at {first} ({source}); "
        f"replay with {FIRST_ENV}={first} python -m pytest tests/sim")
