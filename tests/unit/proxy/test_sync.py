"""Sync batching (SyncRunner) and the kernel-side syncer (RuleSyncer) against a recording fake iptables."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

import pytest

from kubelite.api.durations import duration
from kubelite.proxy.iptables import IptablesError
from kubelite.proxy.main import parse_args
from kubelite.proxy.model import Endpoint, ServicePort
from kubelite.proxy.plan import jumps_missing
from kubelite.proxy.rules import FILTER, JUMPS, NAT, Jump, RulesConfig, build_rules, sep_chain
from kubelite.proxy.syncer import RuleSyncer
from kubelite.proxy.syncrunner import SyncRunner


class FakeTimer:
    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Time that moves only when a test calls `advance`: SyncRunner's waits become exact, and
    "nothing else happened for N seconds" is a fact about the clock, not about a real sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object], /) -> FakeTimer:
        timer = FakeTimer(self.now + max(delay, 0.0), callback)
        self.timers.append(timer)
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order and letting the runner react to each."""
        target = self.now + seconds
        while due := sorted((t for t in self.timers if not t.cancelled and t.when <= target), key=lambda t: t.when):
            timer = due[0]
            self.timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.callback()
            await settle()
        self.now = target
        await settle()


async def settle() -> None:
    """Let every ready task run until all of them wait on the fake clock or a test's gate.

    Nothing here does I/O or waits on real time, so a bounded number of loop turns is enough and
    deterministic: a runner that would start an extra sync does so well within them."""
    for _ in range(100):
        await asyncio.sleep(0)


class Recorder:
    """A sync function that records its calls (at fake times) and can be told to fail or to block."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, bool]] = []
        self.fail = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, periodic: bool) -> None:
        self.calls.append((self.clock.time(), periodic))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise IptablesError("boom")


async def running(runner: SyncRunner, body: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await body()
    finally:
        runner.stop()
        await asyncio.wait_for(task, 5)


async def test_a_burst_of_requests_is_one_sync() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    runner = SyncRunner(rec, min_interval=0, max_interval=60, clock=clock)

    async def body() -> None:
        for _ in range(100):
            runner.request()
        await settle()
        assert len(rec.calls) == 1
        # requests that arrive while a sync runs become exactly one more sync
        rec.gate = asyncio.Event()
        runner.request()
        await settle()
        assert len(rec.calls) == 2  # started, blocked on the gate
        for _ in range(50):
            runner.request()
        rec.gate.set()
        await settle()
        assert len(rec.calls) == 3
        await clock.advance(59.5)  # no request and the periodic sync not yet due: no sync at all
        assert len(rec.calls) == 3
        await clock.advance(0.5)
        assert len(rec.calls) == 4

    await running(runner, body)
    assert [p for _, p in rec.calls] == [False, False, False, True]


async def test_min_interval_spaces_syncs() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    runner = SyncRunner(rec, min_interval=0.5, max_interval=60, clock=clock)

    async def body() -> None:
        runner.request()
        await settle()
        assert len(rec.calls) == 1
        runner.request()
        await settle()
        await clock.advance(0.25)
        assert len(rec.calls) == 1, "a second sync inside min_interval"
        await clock.advance(0.25)
        assert len(rec.calls) == 2

    await running(runner, body)
    assert rec.calls[1][0] - rec.calls[0][0] == 0.5


async def test_periodic_sync_runs_without_requests_and_says_so() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    runner = SyncRunner(rec, min_interval=0, max_interval=1, clock=clock)

    async def body() -> None:
        await settle()
        assert len(rec.calls) == 1  # the start-up sync
        await clock.advance(0.5)
        assert len(rec.calls) == 1
        await clock.advance(0.5)
        await clock.advance(1)

    await running(runner, body)
    assert rec.calls == [(0.0, False), (1.0, True), (2.0, True)]


async def test_failed_sync_is_retried_with_backoff() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    rec.fail = 2
    runner = SyncRunner(rec, min_interval=0, max_interval=60, retry_interval=0.25, clock=clock)

    async def body() -> None:
        runner.request()
        await settle()
        await clock.advance(0.25)
        assert len(rec.calls) == 2  # first retry after retry_interval
        await clock.advance(0.25)
        assert len(rec.calls) == 2  # the second waits twice as long
        await clock.advance(0.25)
        assert len(rec.calls) == 3
        await clock.advance(59)  # succeeded: no more retries
        assert len(rec.calls) == 3

    await running(runner, body)
    assert runner.failures == 2
    assert [t for t, _ in rec.calls] == [0.0, 0.25, 0.75]


class FakeIptables:
    """Records restores; `save` answers a kernel holding `kernel_chains` and `jumps`, printed
    as iptables-save prints them (arguments with spaces quoted)."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self.kernel_chains: list[str] = []
        self.jumps: set[Jump] = set()
        self.fail_restore = False
        self.saves = 0
        self.checks = 0  # ensure_jump calls: each an `iptables -C` process on a real node

    async def restore(self, payload: str) -> None:
        if self.fail_restore:
            raise IptablesError("iptables-restore failed (exit 1): line 3 failed")
        self.payloads.append(payload)

    async def save(self, table: str) -> str:
        self.saves += 1
        decls = "".join(f":{c} - [0:0]\n" for c in self.kernel_chains) if table == NAT else ""
        rules = "".join(" ".join(["-A", j.chain, *(f'"{a}"' if " " in a else a for a in j.spec)]) + "\n"
                        for j in sorted(self.jumps, key=str) if j.table == table)
        return f"*{table}\n{decls}{rules}COMMIT\n"

    async def ensure_jump(self, jump: Jump) -> bool:
        self.checks += 1
        if jump in self.jumps:
            return False
        self.jumps.add(jump)
        return True


SP = ServicePort("default", "web", "", "TCP", 80, "10.96.0.10")


def ruleset(*ips: str) -> object:
    return build_rules([(SP, [Endpoint(ip, 80) for ip in ips])], RulesConfig())


async def test_rule_syncer_full_then_partial_then_nothing() -> None:
    ipt = FakeIptables()
    ipt.kernel_chains = ["KUBE-SEP-LEFTOVERFROMOLD1"]
    syncer = RuleSyncer(ipt)  # type: ignore[arg-type]
    first = await syncer.apply(ruleset("10.244.1.2", "10.244.1.3"))  # type: ignore[arg-type]
    assert first.full and first.jumps_added == len(JUMPS) and ipt.saves == 2
    assert "-X KUBE-SEP-LEFTOVERFROMOLD1" in ipt.payloads[0]  # stale chains of an earlier run are removed
    second = await syncer.apply(ruleset("10.244.1.2", "10.244.1.4"))  # type: ignore[arg-type]
    assert not second.full and ipt.saves == 2 and second.jumps_added == 0
    assert f"-X {sep_chain(SP, Endpoint('10.244.1.3', 80))}" in ipt.payloads[1]
    assert "KUBE-SERVICES" not in ipt.payloads[1]  # unchanged top-level chains are not rewritten
    third = await syncer.apply(ruleset("10.244.1.2", "10.244.1.4"))  # type: ignore[arg-type]
    assert third.plan.empty and len(ipt.payloads) == 2
    checks, saves = ipt.checks, ipt.saves
    periodic = await syncer.apply(ruleset("10.244.1.2", "10.244.1.4"), verify_jumps=True)  # type: ignore[arg-type]
    assert periodic.jumps_added == 0 and (ipt.checks, ipt.saves) == (checks, saves + 2), \
        "the jumps are read from two saves, not asked for one by one"
    ipt.jumps.clear()  # someone flushed the built-in chains: the periodic sync puts the jumps back
    periodic = await syncer.apply(ruleset("10.244.1.2", "10.244.1.4"), verify_jumps=True)  # type: ignore[arg-type]
    assert periodic.jumps_added == len(JUMPS) and periodic.plan.empty
    ipt.jumps.discard(JUMPS[3])
    periodic = await syncer.apply(ruleset("10.244.1.2", "10.244.1.4"), verify_jumps=True)  # type: ignore[arg-type]
    assert periodic.jumps_added == 1 and JUMPS[3] in ipt.jumps


def test_jumps_missing_reads_iptables_save_output() -> None:
    save_nat = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n"
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
        '-A POSTROUTING -s 10.244.1.0/24 -m comment --comment "masquerade" -j MASQUERADE\n'
        '-A KUBE-SERVICES -m comment --comment "kubernetes service portals" -j KUBE-SVC-X\n'
        "COMMIT\n")
    missing = jumps_missing({NAT: save_nat, FILTER: "*filter\nCOMMIT\n"})
    assert {(j.table, j.chain) for j in missing} == {
        (NAT, "POSTROUTING"), (FILTER, "INPUT"), (FILTER, "FORWARD"), (FILTER, "OUTPUT")}
    assert len(missing) == len(JUMPS) - 2
    unquoted = save_nat.replace('"kubernetes service portals" -j KUBE-SERVICES\n-A OUTPUT', 'other -j KUBE-SERVICES\n-A OUTPUT')
    assert (NAT, "PREROUTING") in {(j.table, j.chain) for j in jumps_missing({NAT: unquoted})}, \
        "a rule that differs (another comment) is not the jump"


async def test_rule_syncer_failure_forces_a_full_sync_next() -> None:
    ipt = FakeIptables()
    syncer = RuleSyncer(ipt)  # type: ignore[arg-type]
    await syncer.apply(ruleset("10.244.1.2"))  # type: ignore[arg-type]
    ipt.fail_restore = True
    with pytest.raises(IptablesError):
        await syncer.apply(ruleset("10.244.1.3"))  # type: ignore[arg-type]
    ipt.fail_restore = False
    again = await syncer.apply(ruleset("10.244.1.3"))  # type: ignore[arg-type]
    assert again.full and "KUBE-SERVICES" in ipt.payloads[-1]


def test_flags_and_durations() -> None:
    assert duration("30s") == 30 and duration("0") == 0 and duration("1m30s") == 90 and duration("500ms") == 0.5
    assert duration("1h") == 3600 and duration("2.5") == 2.5
    for bad in ("soon", "30x", "-1", "1s2"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
    args = parse_args(["--server", "10.88.0.1:6443", "--node-name", "n1", "--node-ip", "10.88.0.11",
                       "--listen-health", ":0", "--sync-period", "10s", "--min-sync-period", "1s"])
    assert args.listen_health == ("127.0.0.1", 0) and args.sync_period == 10 and args.min_sync_period == 1
    assert args.cluster_cidr == "10.244.0.0/16" and not args.cleanup
    assert parse_args(["--cluster-cidr", ""]).cluster_cidr == ""
    with pytest.raises(SystemExit):
        parse_args(["--node-ip", "not-an-ip"])
