"""Sync batching (SyncRunner) and the kernel-side syncer (RuleSyncer) against a recording fake iptables."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from kubelite.proxy.iptables import IptablesError
from kubelite.proxy.main import duration, parse_args
from kubelite.proxy.model import Endpoint, ServicePort
from kubelite.proxy.rules import JUMPS, NAT, Jump, RulesConfig, build_rules, sep_chain
from kubelite.proxy.syncer import RuleSyncer
from kubelite.proxy.syncrunner import SyncRunner


async def until(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Recorder:
    """A sync function that records its calls and can be told to fail or to block."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, bool]] = []
        self.fail = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, periodic: bool) -> None:
        self.calls.append((time.monotonic(), periodic))
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
    rec = Recorder()
    runner = SyncRunner(rec, min_interval=0, max_interval=60)

    async def body() -> None:
        for _ in range(100):
            runner.request()
        await until(lambda: len(rec.calls) == 1, "first sync")
        # requests that arrive while a sync runs become exactly one more sync
        rec.gate = asyncio.Event()
        runner.request()
        await until(lambda: len(rec.calls) == 2, "second sync started")
        for _ in range(50):
            runner.request()
        rec.gate.set()
        await until(lambda: len(rec.calls) == 3, "the batched sync")
        await asyncio.sleep(0.05)  # give a wrong implementation the chance to run extra syncs
        assert len(rec.calls) == 3

    await running(runner, body)
    assert [p for _, p in rec.calls] == [False, False, False]


async def test_min_interval_spaces_syncs() -> None:
    rec = Recorder()
    runner = SyncRunner(rec, min_interval=0.2, max_interval=60)

    async def body() -> None:
        runner.request()
        await until(lambda: len(rec.calls) == 1, "first sync")
        runner.request()
        await until(lambda: len(rec.calls) == 2, "second sync")

    await running(runner, body)
    assert rec.calls[1][0] - rec.calls[0][0] >= 0.19


async def test_periodic_sync_runs_without_requests_and_says_so() -> None:
    rec = Recorder()
    runner = SyncRunner(rec, min_interval=0, max_interval=0.1)

    async def body() -> None:
        await until(lambda: len(rec.calls) >= 3, "periodic syncs")

    await running(runner, body)
    assert [periodic for _, periodic in rec.calls[:3]] == [False, True, True]  # the first one is the start-up sync
    assert rec.calls[2][0] - rec.calls[1][0] >= 0.09


async def test_failed_sync_is_retried_with_backoff() -> None:
    rec = Recorder()
    rec.fail = 2
    runner = SyncRunner(rec, min_interval=0, max_interval=60, retry_interval=0.05)

    async def body() -> None:
        runner.request()
        await until(lambda: len(rec.calls) == 3, "two retries")

    await running(runner, body)
    assert runner.failures == 2
    assert rec.calls[2][0] - rec.calls[1][0] >= 0.09  # second retry waited twice as long


class FakeIptables:
    """Records restores; `save` answers a kernel holding `kernel_chains`."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self.kernel_chains: list[str] = []
        self.jumps: set[Jump] = set()
        self.fail_restore = False
        self.saves = 0

    async def restore(self, payload: str) -> None:
        if self.fail_restore:
            raise IptablesError("iptables-restore failed (exit 1): line 3 failed")
        self.payloads.append(payload)

    async def save(self, table: str) -> str:
        self.saves += 1
        decls = "".join(f":{c} - [0:0]\n" for c in self.kernel_chains) if table == NAT else ""
        return f"*{table}\n{decls}COMMIT\n"

    async def ensure_jump(self, jump: Jump) -> bool:
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
    ipt.jumps.clear()  # someone flushed the built-in chains: the periodic sync puts the jumps back
    periodic = await syncer.apply(ruleset("10.244.1.2", "10.244.1.4"), verify_jumps=True)  # type: ignore[arg-type]
    assert periodic.jumps_added == len(JUMPS) and periodic.plan.empty


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
