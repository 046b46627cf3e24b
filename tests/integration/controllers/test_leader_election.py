"""Leader election: only the Lease holder acts, and a killed leader is replaced
within the lease duration — with the in-process elector (fake clock) and with
two real controller-manager processes."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest

from kubelite.api import Deployment, Lease
from kubelite.client import ApiClient, LeaderElectionConfig, LeaderElector
from tests.integration.controllers.helpers import count_is, deployment, wait_for
from tests.integration.controllers.test_daemon import free_port, http_get, start, stop

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(name="test-lock", identity=identity, lease_duration=15, renew_deadline=10,
                                retry_period=2)


async def test_only_one_holder_and_takeover_after_expiry(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    clock = FakeClock()
    a = LeaderElector(client, config("a"), clock)
    b = LeaderElector(client, config("b"), clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # b first sees a's record now
    clock.now += 14
    assert not await b.try_acquire_or_renew()  # not yet expired on b's own clock
    assert await a.try_acquire_or_renew()  # a renews: the record changes
    clock.now += 14
    assert not await b.try_acquire_or_renew()  # b restarted its wait when the record changed
    clock.now += 16  # a is silent for longer than the lease
    assert await b.try_acquire_or_renew()
    lease = await client.get(Lease, "test-lock", "kube-system")
    assert lease.spec.holder_identity == "b"
    assert lease.spec.lease_transitions == 1
    assert not await a.try_acquire_or_renew()  # a sees b's fresh record and backs off


async def test_holder_renews_with_one_update_and_never_overwrites_another_write(control_plane: Any) -> None:
    """The holder renews from the record it wrote (no read first, as client-go's fast path); when
    someone else wrote the Lease meanwhile, the compare-and-swap fails and it reads and backs off."""
    client: ApiClient = control_plane.client
    clock = FakeClock()
    a = LeaderElector(client, config("a"), clock)
    assert await a.try_acquire_or_renew()
    reads = 0
    real_get = client.get

    async def counting_get(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real_get(*args, **kwargs)

    client.get = counting_get  # type: ignore[method-assign]
    try:
        before = (await real_get(Lease, "test-lock", "kube-system")).spec.renew_time
        assert await a.try_acquire_or_renew()
        assert reads == 0
        lease = await real_get(Lease, "test-lock", "kube-system")
        assert lease.spec.holder_identity == "a" and lease.spec.renew_time != before
        lease.spec.holder_identity = "intruder"  # another writer takes the Lease
        await client.update(lease)
        assert not await a.try_acquire_or_renew()  # CAS fails, a reads the Lease and backs off
        assert reads == 1
        assert (await real_get(Lease, "test-lock", "kube-system")).spec.holder_identity == "intruder"
    finally:
        client.get = real_get  # type: ignore[method-assign]


async def test_graceful_stop_releases_so_standby_takes_over_at_once(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    cfg = LeaderElectionConfig(name="release-lock", identity="a", lease_duration=30, renew_deadline=20,
                               retry_period=0.1)
    a = LeaderElector(client, cfg)
    b = LeaderElector(client, LeaderElectionConfig(name="release-lock", identity="b", lease_duration=30,
                                                   renew_deadline=20, retry_period=0.1))
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    acting: list[str] = []

    def lead(name: str) -> Any:
        async def work() -> None:
            acting.append(name)
            await asyncio.Event().wait()
        return work

    task_a = asyncio.create_task(a.run(lead("a"), stop_a))
    await wait_for(lambda: _true(a.is_leader), "a to lead")
    task_b = asyncio.create_task(b.run(lead("b"), stop_b))
    try:
        t0 = time.monotonic()
        stop_a.set()
        await task_a
        await wait_for(lambda: _true(acting == ["a", "b"]), "b to take over and act", timeout=10)
        assert time.monotonic() - t0 < 5  # far less than the 30 s lease: a released it
    finally:
        stop_b.set()
        await task_b


async def _true(value: bool) -> bool | None:
    return True if value else None


async def test_two_controller_managers_one_acts_killed_leader_hands_over(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    flags = ("--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
             "--leader-elect-retry-period", "0.5")
    ports = [free_port(), free_port()]
    procs = [await start(control_plane.server, port, *flags) for port in ports]
    try:
        async def both_ready() -> bool | None:
            codes = [(await http_get(p, "/readyz"))[0] for p in ports]
            return True if codes == [200, 200] else None

        await wait_for(both_ready, "both controller-managers ready (leader and standby)", timeout=30)

        async def holder() -> str | None:
            lease = await client.get(Lease, "kube-controller-manager", "kube-system")
            return lease.spec.holder_identity or None

        first = await wait_for(holder, "a lease holder")
        await client.create(deployment("le", 2))
        await wait_for(lambda: count_is(client, "le", 2), "pods from the leader")

        leader_pid = int(first.rsplit("_", 1)[1])
        leader = next(p for p in procs if p.pid == leader_pid)
        leader.send_signal(signal.SIGKILL)
        await leader.wait()
        killed_at = time.monotonic()

        async def new_holder() -> str | None:
            h = await holder()
            return h if h and h != first else None

        await wait_for(new_holder, "the standby to take the lease", timeout=15)
        assert time.monotonic() - killed_at < 3 + 2  # lease duration + one retry round of slack
        def scale(d: Deployment) -> None:
            d.spec.replicas = 3

        await client.update_with_retry(Deployment, "le", "default", scale)
        await wait_for(lambda: count_is(client, "le", 3), "the new leader acts", timeout=15)
    finally:
        for proc in procs:
            if proc.returncode is None:
                await stop(proc)
                assert proc.returncode == 0
