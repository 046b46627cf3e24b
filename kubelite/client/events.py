"""EventRecorder: Kubernetes-style Events, written in the background.

Why fire-and-forget: components record events from inside reconcile loops and
handlers; an apiserver hiccup must never fail or slow the work being
described. Why aggregation: a crash-looping container or an unschedulable pod
reports the same thing over and over; like Kubernetes we keep one Event per
(object, type, reason, message) and bump its `count` and `lastTimestamp`
instead of creating thousands of objects. A token bucket per aggregated Event
(object, type, reason, message -- the key Kubernetes' spam filter uses) limits
how often one repeating Event is rewritten, so a pod stuck in back-off cannot
starve its later, different Events (Pulled, Started); increments that arrive
while a write is pending are folded into it.

Why plain dicts: every daemon records Events on its hot path (the scheduler one
per bind, the kubelet several per pod start). The recorder only ever sends the
body it built and reads back the resourceVersion, so it builds the JSON body
directly (the parts that never change once per recorder or per aggregated
Event) and reads the answer as a dict: no Event model is built or parsed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from kubelite.api import Resource, now
from kubelite.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubelite.client.api_client import ApiClient

log = logging.getLogger("client.events")

_AggKey = tuple[str, str, str, str, str, str, str]  # kind, ns, name, uid, type, reason, message


class _Bucket:
    """Token bucket: `burst` writes at once, then `rate` per second."""

    def __init__(self, burst: float, rate: float):
        self.tokens = burst
        self.burst = burst
        self.rate = rate
        self.stamp = time.monotonic()

    def take(self) -> bool:
        t = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (t - self.stamp) * self.rate)
        self.stamp = t
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class _Record:
    """What we know about one aggregated Event, written or not yet."""

    namespace: str
    name: str
    body: dict[str, Any]  # the Event's fields that never change (all but metadata, count, lastTimestamp)
    last_timestamp: str
    count: int = 1
    stored: bool = False  # written at least once (and not found deleted since)
    resource_version: str = ""  # of the Event as last written: an update's optimistic lock
    queued: bool = False
    written_count: int = 0
    bucket: _Bucket | None = None  # its rate limit (see the module doc), made on first use


class EventRecorder:
    """Records Events about objects for `component` (e.g. "scheduler") on `host`."""

    def __init__(
        self,
        client: ApiClient,
        component: str,
        host: str = "",
        *,
        burst: int = 25,
        rate_per_second: float = 1.0 / 3,
        max_records: int = 4096,
    ):
        self.client = client
        self.component = component
        self.host = host
        self.dropped = 0  # writes skipped by the rate limit or a full backlog
        self._burst = burst
        self._rate = rate_per_second
        self._max_records = max_records
        self._records: OrderedDict[_AggKey, _Record] = OrderedDict()
        self._backlog: deque[_AggKey] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        source = {"component": component}
        if host:
            source["host"] = host
        self._common: dict[str, Any] = {
            "source": source, "reportingComponent": component, "reportingInstance": host or component,
        }

    def event(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        """Record that `reason: message` happened to `obj`. Never raises, never blocks."""
        try:
            self._record(obj, type_, reason, message)
        except Exception:  # a recorder must never break its caller
            log.exception("recording event %s for %s failed", reason, obj.metadata.name)

    def _record(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        if self._closed:
            return
        meta = obj.metadata
        kind = obj.kind or type(obj).__name__
        obj_ns = meta.namespace or ""
        key: _AggKey = (kind, obj_ns, meta.name or "", meta.uid or "", type_, reason, message)
        rec = self._records.get(key)
        if rec is not None:
            rec.count += 1
            rec.last_timestamp = now()
            self._records.move_to_end(key)
        else:
            # involvedObject as ObjectReference.to_dict() writes it: unset (None) fields left out.
            ref: dict[str, Any] = {"kind": kind}
            for field_name, value in (("namespace", meta.namespace), ("name", meta.name), ("uid", meta.uid),
                                      ("apiVersion", obj.api_version or None),
                                      ("resourceVersion", meta.resource_version)):
                if value is not None:
                    ref[field_name] = value
            stamp = now()
            rec = _Record(
                # Events about cluster-scoped objects (nodes) live in "default", as in Kubernetes.
                namespace=obj_ns or "default",
                name=f"{meta.name or kind.lower()}.{time.time_ns():x}",
                body={"apiVersion": "v1", "kind": "Event", "involvedObject": ref, "reason": reason,
                      "message": message, "type": type_, "firstTimestamp": stamp, **self._common},
                last_timestamp=stamp,
            )
            self._records[key] = rec
            while len(self._records) > self._max_records:
                self._records.popitem(last=False)
        if rec.queued:
            return  # the pending write will carry the new count
        if rec.bucket is None:
            rec.bucket = _Bucket(self._burst, self._rate)
        if not rec.bucket.take():
            self.dropped += 1
            return
        self._enqueue(key, rec)

    def _enqueue(self, key: _AggKey, rec: _Record) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.dropped += 1
            return
        rec.queued = True
        self._backlog.append(key)
        self._idle.clear()
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=f"event-recorder-{self.component}")

    async def _run(self) -> None:
        while True:
            if not self._backlog:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key = self._backlog.popleft()
            rec = self._records.get(key)
            if rec is None:
                continue
            rec.queued = False
            try:
                await self._write(rec)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                log.debug("event %s/%s not written: %s", rec.namespace, rec.name, exc)
            except Exception:
                log.exception("event %s/%s not written", rec.namespace, rec.name)

    @staticmethod
    def _build(rec: _Record) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": rec.name, "namespace": rec.namespace}
        if rec.resource_version:
            meta["resourceVersion"] = rec.resource_version
        return {**rec.body, "metadata": meta, "count": rec.count, "lastTimestamp": rec.last_timestamp}

    def _stored(self, rec: _Record, answer: dict[str, Any]) -> None:
        rec.stored = True
        rec.resource_version = str((answer.get("metadata") or {}).get("resourceVersion") or "")

    async def _write(self, rec: _Record) -> None:
        count = rec.count
        client = self.client
        if not rec.stored:
            try:
                self._stored(rec, await client.create_raw("events", self._build(rec), rec.namespace))
                rec.written_count = count
                return
            except AlreadyExists:
                self._stored(rec, await client.get_raw("events", rec.name, rec.namespace))
        if rec.written_count == count:
            return
        try:
            self._stored(rec, await client.update_raw("events", self._build(rec), rec.namespace))
        except Conflict:
            self._stored(rec, await client.get_raw("events", rec.name, rec.namespace))
            self._stored(rec, await client.update_raw("events", self._build(rec), rec.namespace))
        except NotFound:  # deleted (TTL, user): start a fresh one
            rec.stored, rec.resource_version = False, ""
            self._stored(rec, await client.create_raw("events", self._build(rec), rec.namespace))
        rec.written_count = count

    async def flush(self) -> None:
        """Wait until every queued write has been attempted."""
        while self._task is not None and not self._task.done() and not (self._idle.is_set() and not self._backlog):
            await self._idle.wait()

    async def close(self, timeout: float = 5.0) -> None:
        """Flush (bounded by `timeout`), then stop the background writer."""
        self._closed = True
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.warning("event recorder %s: %d writes abandoned at close", self.component, len(self._backlog))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
