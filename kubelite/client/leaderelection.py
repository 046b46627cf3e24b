"""Leader election through a `coordination.k8s.io/v1` Lease, like client-go's.

Why: two controller-managers (or schedulers) may run for availability, but only
one may act, or both would create the same pods. The holder renews the Lease
every `retry_period`; a candidate takes it over only after it has seen the
*same* record unchanged for `lease_duration` on its own monotonic clock — so a
skewed wall clock on either side can never make a live leader look expired.
Every write is compare-and-swap on resourceVersion, so two candidates cannot
both win. A leader that cannot renew for `renew_deadline` stops acting before
anyone else may take over (renew_deadline < lease_duration), and a leader that
stops gracefully releases the Lease so the standby takes over at once.

`serve_elected` is the whole leader-elected daemon loop (readiness, a fresh
component per term, graceful shutdown) that the controller-manager and the
scheduler share, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubelite.api import Lease, LeaseSpec, ObjectMeta, now_micro
from kubelite.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubelite.client.api_client import ApiClient

log = logging.getLogger(__name__)


def default_identity() -> str:
    """Unique per process, readable in `kctl get lease -n kube-system`."""
    return f"{socket.gethostname()}_{os.getpid()}"


@dataclass(frozen=True)
class LeaderElectionConfig:
    name: str  # the Lease's name, e.g. "kube-scheduler"
    namespace: str = "kube-system"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < retry-period < renew-deadline < lease-duration")


class LeaderElector:
    """Runs `lead()` only while this process holds the Lease."""

    def __init__(self, client: ApiClient, config: LeaderElectionConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self.config = config
        self._clock = clock
        self.is_leader = False
        self.reachable = False  # the last attempt got an answer from the apiserver (for /readyz)
        self._observed: tuple[str, str, str] | None = None  # (holder, renewTime, resourceVersion)
        self._observed_at = 0.0
        self._held: Lease | None = None  # the Lease as this process last wrote it while holding it

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
        """Until `stop`: acquire, run `lead()` while renewing, cancel it when leadership is lost.

        `lead` must run until cancelled (and clean up in `finally`).
        """
        while not stop.is_set():
            if not await self._acquire(stop):
                return
            log.info("became leader", extra={"lease": self.config.name, "identity": self.config.identity})
            self.is_leader = True
            task = asyncio.create_task(lead(), name=f"leader:{self.config.name}")
            try:
                await self._renew_until_lost(stop, task)
            finally:
                self.is_leader = False
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("leader work failed", exc_info=task.exception())
            if stop.is_set():
                await self._release()
                return
            log.warning("lost leadership", extra={"lease": self.config.name})

    async def _acquire(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            if await self.try_acquire_or_renew():
                return True
            await _wait(stop, self.config.retry_period)
        return False

    async def _renew_until_lost(self, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
        last_renew = self._clock()
        while not stop.is_set() and not task.done():
            await _wait(stop, self.config.retry_period, task)
            if stop.is_set() or task.done():
                return
            if await self.try_acquire_or_renew():
                last_renew = self._clock()
            elif self._clock() - last_renew >= self.config.renew_deadline or self._held_by_other():
                return

    def _held_by_other(self) -> bool:
        return self._observed is not None and self._observed[0] not in ("", self.config.identity)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this process holds the Lease afterwards.

        The holder first renews optimistically from the record it wrote last (one Update, as
        client-go's fast path does): on an idle cluster the Get before every renewal was half
        of the two electors' requests, each a read of the store. Any failure there -- someone
        else wrote the Lease (Conflict), it is gone, the apiserver is away -- falls back to the
        careful path: read the Lease, then decide."""
        if self._held is not None and await self._renew_held():
            return True
        cfg = self.config
        stamp = now_micro()
        try:
            lease = await self._client.get(Lease, cfg.name, cfg.namespace)
        except NotFound:
            self.reachable = True
            fresh = Lease(metadata=ObjectMeta(name=cfg.name, namespace=cfg.namespace), spec=LeaseSpec(
                holder_identity=cfg.identity, lease_duration_seconds=round(cfg.lease_duration),
                acquire_time=stamp, renew_time=stamp, lease_transitions=0))
            try:
                created = await self._client.create(fresh)
            except (AlreadyExists, ApiError) as exc:
                log.debug("lease create failed", extra={"error": str(exc)})
                return False
            self._observe(created)
            self._held = created
            return True
        except ApiError as exc:
            log.debug("lease read failed", extra={"error": str(exc)})
            self.reachable = False
            return False
        self.reachable = True
        self._observe(lease)
        spec = lease.spec
        holder = spec.holder_identity or ""
        duration = float(spec.lease_duration_seconds or cfg.lease_duration)
        expired = self._clock() - self._observed_at >= duration
        if holder and holder != cfg.identity and not expired:
            return False
        if holder != cfg.identity:
            spec.acquire_time = stamp
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
        spec.holder_identity = cfg.identity
        spec.lease_duration_seconds = round(cfg.lease_duration)
        spec.renew_time = stamp
        try:
            updated = await self._client.update(lease)
        except (Conflict, NotFound, ApiError) as exc:
            log.debug("lease update failed", extra={"error": str(exc)})
            return False
        self._observe(updated)
        self._held = updated
        return True

    async def _renew_held(self) -> bool:
        """Renew by updating the record this process wrote last (compare-and-swap on its
        resourceVersion, so nobody else's write is overwritten); False (and forget it) on any
        failure, for the caller to read the Lease again."""
        lease, self._held = self._held, None
        assert lease is not None
        lease.spec.renew_time = now_micro()
        try:
            updated = await self._client.update(lease)
        except ApiError as exc:
            log.debug("lease renewal from the held record failed", extra={"error": str(exc)})
            return False
        self.reachable = True
        self._observe(updated)
        self._held = updated
        return True

    def _observe(self, lease: Lease) -> None:
        """Remember when the record last changed, on the local clock (expiry ignores wall clocks)."""
        record = (lease.spec.holder_identity or "", lease.spec.renew_time or "", lease.metadata.resource_version or "")
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()

    async def _release(self) -> None:
        """Hand over at once on a graceful stop: empty holder, lease expiring immediately."""
        cfg = self.config
        self._held = None
        try:
            lease = await self._client.get(Lease, cfg.name, cfg.namespace)
            if lease.spec.holder_identity != cfg.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = now_micro()
            await self._client.update(lease)
            log.info("released leadership", extra={"lease": cfg.name})
        except ApiError as exc:
            log.warning("could not release the lease", extra={"error": str(exc)})


async def _wait(stop: asyncio.Event, seconds: float, task: asyncio.Task[None] | None = None) -> None:
    """Sleep up to `seconds`, waking early on `stop` (or when `task` finishes)."""
    waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(stop.wait())}
    if task is not None:
        waiters.add(task)  # type: ignore[arg-type]
    timeout = None if seconds == float("inf") else seconds
    _, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for fut in pending:
        if fut is not task:
            fut.cancel()


def election_ready(elector: LeaderElector | None, component_check: Callable[[], str | None] | None) -> str | None:
    """/readyz of a daemon under election: a standby that reaches the apiserver is ready (waiting is
    its job); the leader (or a daemon without election) is as ready as its component."""
    if elector is not None and not elector.is_leader:
        return None if elector.reachable else "apiserver not reachable (leader election)"
    return component_check() if component_check is not None else "not started"


def elector_from_flags(client: ApiClient, args: argparse.Namespace) -> LeaderElector | None:
    """The elector `daemon.add_leader_election_flags` describes; None with --no-leader-elect."""
    if not args.leader_elect:
        return None
    return LeaderElector(client, LeaderElectionConfig(
        name=str(args.leader_elect_resource_name),
        lease_duration=float(args.leader_elect_lease_duration),
        renew_deadline=float(args.leader_elect_renew_deadline),
        retry_period=float(args.leader_elect_retry_period),
    ))


async def run_elected(elector: LeaderElector | None, lead: Callable[[], Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Run `lead()` while leader (or always, without an elector) until `stop`; then cancel it."""
    if elector is not None:
        await elector.run(lead, stop)
        return
    task = asyncio.create_task(lead(), name="lead")
    await _wait(stop, float("inf"), task)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Leader(Protocol):
    """What a leader-elected daemon runs while it leads: a fresh one per term."""

    def ready_check(self) -> str | None:
        """None when ready; otherwise why not (for /readyz)."""

    async def run(self) -> None:
        """Act until cancelled (leadership lost or shutdown), cleaning up in `finally`."""


class HealthChecks(Protocol):
    """The part of the daemon's health server this loop needs (`kubelite.daemon.HealthServer`)."""

    def add_check(self, name: str, check: Callable[[], str | None]) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_elected(client: ApiClient, args: argparse.Namespace, stop: asyncio.Event, health: HealthChecks,
                        check_name: str, build: Callable[[], Leader]) -> None:
    """Serve health, run `build()` while leader (election per `args`), until `stop`; then close `client`.

    Why a fresh `build()` per term of leadership: no stale state (expectations,
    assumed pods) survives a hand-over to another process and back. A standby
    is ready (waiting is its job) as long as it reaches the apiserver; the
    leader is as ready as its component.
    """
    elector = elector_from_flags(client, args)
    current: list[Leader] = []

    def ready() -> str | None:
        return election_ready(elector, current[-1].ready_check if current else None)

    async def lead() -> None:
        leader = build()
        current[:] = [leader]
        await leader.run()

    health.add_check(check_name, ready)
    await health.start()
    try:
        await run_elected(elector, lead, stop)
    finally:
        await health.stop()
        await client.close()
