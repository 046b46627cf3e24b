"""The jumps from the built-in chains, read back from a real kernel's `iptables-save`.

Why: a periodic sync finds the jumps in the two tables' saves instead of asking `iptables -C`
for each (8 processes every 30 s on an idle node). That holds only if the text iptables-save
prints is the text `jumps_missing` looks for; on a mismatch every jump would look missing and
be asked for one by one again. Checked here against the iptables installed, in a network
namespace of its own.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from kubelite.proxy.iptables import Iptables
from kubelite.proxy.model import Endpoint, ServicePort
from kubelite.proxy.plan import jumps_missing
from kubelite.proxy.rules import FILTER, JUMPS, NP_FORWARD, RulesConfig, build_rules
from kubelite.proxy.syncer import RuleSyncer
from tests.integration.proxy.netlab import missing_requirements

REASON = missing_requirements()
pytestmark = [pytest.mark.integration, pytest.mark.requires_root("network namespaces, iptables"),
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]


class CountingIptables(Iptables):
    """The real commands, counted: each is one process on a node."""

    def __init__(self, ns: str) -> None:
        super().__init__(prefix=["ip", "netns", "exec", ns])
        self.commands: list[str] = []

    async def _run(self, argv: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        self.commands.append(" ".join(argv[:3]))
        return await super()._run(argv, stdin)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"kpj{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


async def test_periodic_sync_reads_the_jumps_from_two_saves(netns: str) -> None:
    ipt = CountingIptables(netns)
    syncer = RuleSyncer(ipt)
    sp = ServicePort("default", "web", "", "TCP", 80, "10.96.0.10")
    rules = build_rules([(sp, [Endpoint("10.244.1.2", 80)])], RulesConfig())
    rules.chains[(FILTER, NP_FORWARD)] = []  # as the network policy compiler adds it (no policy)
    first = await syncer.apply(rules)
    assert first.full and first.jumps_added == len(JUMPS)
    assert jumps_missing(await syncer.saves()) == [], "iptables-save prints the jumps as they are looked for"

    ipt.commands.clear()
    periodic = await syncer.apply(rules, verify_jumps=True)
    assert periodic.jumps_added == 0 and periodic.plan.empty
    assert ipt.commands == ["iptables-save -t nat", "iptables-save -t filter"], ipt.commands

    gone = JUMPS[1]
    await ipt._run(["iptables", "-w", "-t", gone.table, "-D", gone.chain, *gone.spec])
    again = await syncer.apply(rules, verify_jumps=True)
    assert again.jumps_added == 1 and jumps_missing(await syncer.saves()) == []
