"""Which seeds CI runs: fixed regression seeds plus a range that moves with every commit.

Why a moving range: running the same 2,000 seeds on every commit only proves those 2,000
schedules; the bugs of issue 11 sat in seeds nobody had run. Each commit now explores a
fresh range derived from its id, so CI's coverage grows with the history, and the range
is printed (and can be forced) so any failure replays exactly:

    KUBELITE_SIM_FIRST=12345000 python -m pytest tests/sim   # rerun CI's range for that commit
    python -m tests.sim.run --seed N --members 3 ...          # or one seed, as a failure prints it
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.sim.cluster import Scenario

REPO = Path(__file__).resolve().parents[2]
FIRST_ENV = "KUBELITE_SIM_FIRST"
_SPAN = 10**9
"""Seeds below this offset are left to hand-picked soaks (0..5,000,000 were run by hand)."""
_OFFSET = 10**7

REGRESSIONS: list[tuple[int, Scenario]] = [
    # commit safety: a member that lost its bootstrap held a one-voter configuration
    (4001218, Scenario(members=3, steps=300)),
    (1002942, Scenario(members=5, steps=300, fault_rate=0.15, membership=True)),
    (2001136, Scenario(members=5, steps=300, fault_rate=0.15)),
    (2002132, Scenario(members=5, steps=300, fault_rate=0.15)),
    # liveness: a stale vote request went unanswered, so a candidate never caught up the term
    (3002450, Scenario(members=3, steps=300, membership=True)),
]


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def moving_first() -> tuple[int, str]:
    """First seed of this run's moving range, and where it came from (for the summary)."""
    forced = os.environ.get(FIRST_ENV)
    if forced:
        return int(forced), f"{FIRST_ENV}={forced}"
    commit = _commit()
    if not commit:
        raise RuntimeError(f"no git commit to derive the simulator's seed range from; set {FIRST_ENV}")
    return _OFFSET + int(commit[:12], 16) % _SPAN, f"commit {commit[:12]}"
