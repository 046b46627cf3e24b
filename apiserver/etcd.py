"""Async etcd v3 client (grpc.aio over the `pb.etcd` stubs) for the apiserver.

Why our own and not a library: the apiserver needs exactly six operations —
range, create-if-absent, compare-and-swap update, (conditional) delete, a
prefix watch (with progress notifications on request) and a lease grant (for
objects that expire, Events) — and it must behave the same against
kubelite's kvstore and a real etcd 3.4, with fail-over between endpoints. Every
write is a Txn guarded by a revision compare, which is what makes the API's
optimistic concurrency (resourceVersion) exact.

Values pass through an optional `ValueTransformer` (encryption at rest,
`apiserver.encryption`) on the way in and out, so every caller -- service,
watch cache, writers -- sees plain objects and only this layer sees ciphertext.

Errors come out as `api.errors` types: an unreachable store is
ServiceUnavailable, a compacted revision is Expired, a deadline is Timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol

import grpc
import grpc.aio

from kubelite.api.errors import ApiError, Expired, InternalError, ServiceUnavailable, Timeout
from kubelite.pb.etcd import kv_pb2, rpc_pb2

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024

# Fast reconnects: the kvstore may be killed and restarted; gRPC's default
# back-off grows to two minutes, which would keep the apiserver blind for long.
# `min_reconnect_backoff_ms` is gRPC's minimum *connect timeout* (one attempt's
# TCP + TLS handshake), not a back-off: at 100 ms an emulated VM's apiserver
# never finished a handshake with its own local store. 5 s stays well inside a
# request's deadline, and a killed member refuses at once anyway.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 5_000),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]
_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc-stubs

_UNARY_METHODS: dict[str, tuple[str, Any, Any]] = {
    "Range": ("KV", rpc_pb2.RangeRequest, rpc_pb2.RangeResponse),
    "Txn": ("KV", rpc_pb2.TxnRequest, rpc_pb2.TxnResponse),
    "LeaseGrant": ("Lease", rpc_pb2.LeaseGrantRequest, rpc_pb2.LeaseGrantResponse),
}


class ValueTransformer(Protocol):
    """Turns object bytes into stored bytes and back; the storage key is part of the input (AAD)."""

    def to_storage(self, key: str, value: bytes) -> bytes: ...

    def from_storage(self, key: str, value: bytes) -> tuple[bytes, bool]:
        """(plain value, stale: not stored the way it would be written now); ValueError if unreadable."""
        ...


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A stored key with its value as the layers above see it (decrypted).

    `stale`: the value is not stored under the current encryption key (rewrite it
    to rotate). `error`: the value could not be decrypted; `value` is then empty
    and `storage.from_kv` reports the error.
    """

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    stale: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    revision: int  # the store revision the read reflects
    more: bool
    count: int


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Outcome of a guarded write: on failure `kv` is the key's current value (None if absent)."""

    succeeded: bool
    revision: int
    kv: KeyValue | None


@dataclass(frozen=True, slots=True)
class WatchedEvent:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """One watch response: events in revision order, or a progress notification.

    `revision` is the highest revision this batch proves the watcher has seen:
    the last event's mod_revision, or for a progress notification the store
    revision in the header.
    """

    events: list[WatchedEvent]
    revision: int
    progress: bool


class LeaseNotFound(InternalError):
    """A write named a lease the store no longer has (it expired or was revoked)."""


class Compacted(Exception):
    """The watch's start revision was compacted away; the caller must relist."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"required revision has been compacted (compact revision {compact_revision})")
        self.compact_revision = compact_revision


def prefix_end(prefix: bytes) -> bytes:
    """The etcd range_end that selects every key starting with `prefix`."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"


def _kv(pb: kv_pb2.KeyValue, transformer: ValueTransformer | None = None) -> KeyValue:
    key = pb.key.decode("utf-8", "replace")
    value, stale, error = pb.value, False, ""
    if value and transformer is not None:  # empty: keys-only reads, delete events
        try:
            value, stale = transformer.from_storage(key, value)
        except ValueError as exc:
            value, error = b"", str(exc)
    return KeyValue(
        key=key,
        value=value,
        create_revision=pb.create_revision,
        mod_revision=pb.mod_revision,
        version=pb.version,
        stale=stale,
        error=error,
    )


def map_rpc_error(err: grpc.aio.AioRpcError, endpoint: str) -> ApiError:
    """Translate a failed etcd call into the API error a client should see."""
    code = err.code()
    details = err.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(f"storage unavailable at {endpoint}: {details}".rstrip(": "))
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Timeout(f"storage at {endpoint} did not answer in time")
    if code == grpc.StatusCode.OUT_OF_RANGE or "compacted" in details:
        return Expired(f"too old resource version: {details}")
    if code == grpc.StatusCode.NOT_FOUND and "lease not found" in details:
        return LeaseNotFound(f"storage at {endpoint}: {details}")
    if code == grpc.StatusCode.CANCELLED:
        return ServiceUnavailable(f"storage call to {endpoint} was cancelled")
    return InternalError(f"storage error from {endpoint}: {code.name if code else 'UNKNOWN'}: {details}")


class _Endpoint:
    """A lazily created channel and stubs for one etcd endpoint."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.target = target
        self.credentials = credentials
        self._channel: grpc.aio.Channel | None = None
        self.unary: dict[str, Any] = {}
        self.watch: Any = None

    def open(self) -> _Endpoint:
        if self._channel is None:
            if self.credentials is not None:
                self._channel = grpc.aio.secure_channel(self.target, self.credentials, options=CHANNEL_OPTIONS)
            else:
                self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
            ch = self._channel
            self.unary = {
                name: ch.unary_unary(
                    f"/etcdserverpb.{service}/{name}", request_serializer=req.SerializeToString,
                    response_deserializer=resp.FromString,
                )
                for name, (service, req, resp) in _UNARY_METHODS.items()
            }
            self.watch = ch.stream_stream(
                "/etcdserverpb.Watch/Watch", request_serializer=rpc_pb2.WatchRequest.SerializeToString,
                response_deserializer=rpc_pb2.WatchResponse.FromString,
            )
        return self

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(None)


class EtcdClient:
    """Talks to one of several etcd endpoints, moving to the next on UNAVAILABLE."""

    def __init__(
        self, endpoints: list[str], *, timeout: float = 10.0, transformer: ValueTransformer | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """`credentials`: TLS towards the store (its CA and our client certificate); None: plaintext."""
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.transformer = transformer
        self._endpoints = [_Endpoint(e, credentials) for e in endpoints]
        self._current = 0
        self.timeout = timeout
        self.last_error: str | None = None
        self.last_answer = 0.0  # time.monotonic() of the store's last successful answer

    @property
    def endpoint(self) -> str:
        return self._endpoints[self._current].target

    def _read(self, pb: kv_pb2.KeyValue) -> KeyValue:
        return _kv(pb, self.transformer)

    def _put(self, key: str, value: bytes, lease: int = 0) -> rpc_pb2.RequestOp:
        """A put of `value` as stored (encrypted when the key's resource is configured), attached
        to `lease` (0: none) so that the store deletes the key when the lease expires."""
        if self.transformer is not None:
            value = self.transformer.to_storage(key, value)
        return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key.encode(), value=value, lease=lease))

    def _endpoint(self) -> _Endpoint:
        return self._endpoints[self._current].open()

    def rotate(self) -> None:
        """Move to the next endpoint (after the current one failed)."""
        self._current = (self._current + 1) % len(self._endpoints)

    async def close(self) -> None:
        for ep in self._endpoints:
            await ep.close()

    async def _call(self, method: str, request: Any) -> Any:
        """Call a unary method (`_UNARY_METHODS`), trying each endpoint once if the current one is unavailable."""
        last: grpc.aio.AioRpcError | None = None
        for _ in range(len(self._endpoints)):
            ep = self._endpoint()
            try:
                response = await ep.unary[method](request, timeout=self.timeout)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    last = err
                    self.last_error = f"{ep.target}: {err.details()}"
                    self.rotate()
                    continue
                raise map_rpc_error(err, ep.target) from None
            self.last_error = None
            self.last_answer = time.monotonic()
            return response
        assert last is not None
        raise map_rpc_error(last, ",".join(e.target for e in self._endpoints)) from None

    async def get(self, key: str) -> tuple[KeyValue | None, int]:
        """The key's current value (None if absent) and the store revision."""
        resp: rpc_pb2.RangeResponse = await self._call("Range", rpc_pb2.RangeRequest(key=key.encode()))
        kv = self._read(resp.kvs[0]) if resp.kvs else None
        return kv, resp.header.revision

    async def range(
        self,
        start: str,
        end: bytes,
        *,
        revision: int = 0,
        limit: int = 0,
        count_only: bool = False,
        keys_only: bool = False,
        min_mod_revision: int = 0,
    ) -> RangeResult:
        """Keys in [start, end) at `revision` (0 = latest), sorted by key.

        `count` is the number of keys in the range before the min_mod_revision filter.
        """
        req = rpc_pb2.RangeRequest(
            key=start.encode(), range_end=end, revision=revision, limit=limit, count_only=count_only,
            keys_only=keys_only, min_mod_revision=min_mod_revision,
        )
        resp: rpc_pb2.RangeResponse = await self._call("Range", req)
        return RangeResult([self._read(kv) for kv in resp.kvs], resp.header.revision, resp.more, resp.count)

    async def range_prefix(self, prefix: str, *, revision: int = 0, limit: int = 0) -> RangeResult:
        return await self.range(prefix, prefix_end(prefix.encode()), revision=revision, limit=limit)

    async def current_revision(self) -> int:
        """The store's current revision, with a read that carries no data.

        Why a Range on an empty key range and not Maintenance.Status: a Range
        is served by every etcd member linearizably, so its header revision
        covers every write acknowledged before this call began.
        """
        resp: rpc_pb2.RangeResponse = await self._call(
            "Range", rpc_pb2.RangeRequest(key=b"\x00", count_only=True)
        )
        return int(resp.header.revision)

    async def _txn(self, key: str, compare: rpc_pb2.Compare, success: rpc_pb2.RequestOp) -> TxnResult:
        req = rpc_pb2.TxnRequest(
            compare=[compare],
            success=[success],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key.encode()))],
        )
        resp: rpc_pb2.TxnResponse = await self._call("Txn", req)
        if resp.succeeded:
            return TxnResult(True, resp.header.revision, None)
        current: KeyValue | None = None
        if resp.responses and resp.responses[0].response_range.kvs:
            current = self._read(resp.responses[0].response_range.kvs[0])
        return TxnResult(False, resp.header.revision, current)

    async def create(self, key: str, value: bytes, *, lease: int = 0) -> TxnResult:
        """Put `key` only if it does not exist (create_revision == 0); `lease` as in `_put`."""
        compare = rpc_pb2.Compare(
            key=key.encode(), target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.EQUAL, create_revision=0
        )
        put = self._put(key, value, lease)
        return await self._txn(key, compare, put)

    async def update(self, key: str, value: bytes, mod_revision: int, *, lease: int = 0) -> TxnResult:
        """Put `key` only if it was last modified at `mod_revision` (compare-and-swap); `lease` as
        in `_put` (a put names its lease each time: one without a lease detaches the key)."""
        compare = rpc_pb2.Compare(
            key=key.encode(), target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL, mod_revision=mod_revision
        )
        put = self._put(key, value, lease)
        return await self._txn(key, compare, put)

    async def grant_lease(self, ttl: int) -> tuple[int, int]:
        """A new lease of `ttl` seconds: (its id, the TTL the store granted, which may be longer)."""
        resp: rpc_pb2.LeaseGrantResponse = await self._call("LeaseGrant", rpc_pb2.LeaseGrantRequest(TTL=ttl))
        if resp.error:
            raise InternalError(f"storage did not grant a lease: {resp.error}")
        return int(resp.ID), int(resp.TTL)

    async def commit(
        self, key: str, value: bytes | None, mod_revision: int | None, claims: dict[str, bytes], releases: list[str]
    ) -> tuple[bool, int, set[str]]:
        """One transaction: write (or delete, value None) `key` -- created when `mod_revision` is
        None, else compare-and-swap -- together with claim keys that must not exist yet and
        release keys to delete. Returns (succeeded, revision, keys among `key`+claims that exist)
        so a caller can tell "object exists / changed" from "a claim is taken"."""
        k = key.encode()
        if mod_revision is None:
            compares = [rpc_pb2.Compare(key=k, target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.EQUAL,
                                        create_revision=0)]
        else:
            compares = [rpc_pb2.Compare(key=k, target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL,
                                        mod_revision=mod_revision)]
        compares += [rpc_pb2.Compare(key=c.encode(), target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.EQUAL,
                                     create_revision=0) for c in claims]
        if value is None:
            ops = [rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=k))]
        else:
            ops = [self._put(key, value)]
        ops += [self._put(c, v) for c, v in claims.items()]
        ops += [rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=r.encode())) for r in releases]
        checked = [key, *claims]
        failure = [rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=c.encode(), count_only=True))
                   for c in checked]
        req = rpc_pb2.TxnRequest(compare=compares, success=ops, failure=failure)
        resp: rpc_pb2.TxnResponse = await self._call("Txn", req)
        if resp.succeeded:
            return True, resp.header.revision, set()
        existing = {c for c, r in zip(checked, resp.responses, strict=False) if r.response_range.count > 0}
        return False, resp.header.revision, existing

    async def delete(self, key: str, mod_revision: int | None = None) -> TxnResult:
        """Delete `key`; when `mod_revision` is given only if it is unchanged since then.

        Without a revision the compare is "key exists" (create_revision > 0) so a
        missing key reports failure with kv=None instead of a silent no-op.
        """
        if mod_revision is None:
            compare = rpc_pb2.Compare(
                key=key.encode(), target=rpc_pb2.Compare.CREATE, result=rpc_pb2.Compare.GREATER, create_revision=0
            )
        else:
            compare = rpc_pb2.Compare(
                key=key.encode(), target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL, mod_revision=mod_revision
            )
        op = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key.encode()))
        return await self._txn(key, compare, op)

    def watch(self, prefix: str, start_revision: int) -> EtcdWatch:
        """A watch of every key under `prefix` from `start_revision` (use as `async with`)."""
        return EtcdWatch(self, prefix, start_revision)


class EtcdWatch:
    """One etcd watch on its own bidirectional stream.

    Why one stream per watch: a progress request is answered per stream, so a
    progress notification then proves exactly this watch is up to date.
    Iterating yields `WatchBatch`es; it raises `Compacted` when the start
    revision is gone and ServiceUnavailable when the stream breaks.
    """

    def __init__(self, client: EtcdClient, prefix: str, start_revision: int) -> None:
        self._client = client
        self._prefix = prefix
        self._start = start_revision
        self._call: Any = None
        self._target = ""
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> EtcdWatch:
        ep = self._client._endpoint()
        self._target = ep.target
        self._call = ep.watch()
        key = self._prefix.encode()
        # No periodic progress notifications (progress_notify): the watch cache ignores them
        # (see WatchCache.apply and wait_fresh), and with one stream per resource the store
        # sent ~32 every 10 s, more messages on an idle cluster than its Lease renewals.
        # `request_progress` still asks for one when a caller needs it.
        create = rpc_pb2.WatchCreateRequest(key=key, range_end=prefix_end(key), start_revision=self._start)
        try:
            await self._write(rpc_pb2.WatchRequest(create_request=create))
        except BaseException:
            self._call.cancel()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None

    async def _write(self, request: rpc_pb2.WatchRequest) -> None:
        async with self._write_lock:
            try:
                await self._call.write(request)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    self._client.rotate()
                raise map_rpc_error(err, self._target) from None
            except asyncio.InvalidStateError:
                raise ServiceUnavailable(f"watch stream to {self._target} is closed") from None

    async def request_progress(self) -> None:
        """Ask the store for a progress notification on this stream (best effort)."""
        if self._call is None:
            return
        try:
            await self._write(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))
        except ApiError as err:
            log.debug("progress request failed: %s", err)

    def __aiter__(self) -> EtcdWatch:
        return self

    async def __anext__(self) -> WatchBatch:
        while True:
            if self._call is None:
                raise StopAsyncIteration
            try:
                resp = await self._call.read()
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    self._client.rotate()
                raise map_rpc_error(err, self._target) from None
            if resp is _EOF:
                raise ServiceUnavailable(f"watch stream to {self._target} ended")
            assert isinstance(resp, rpc_pb2.WatchResponse)
            if resp.canceled:
                if resp.compact_revision > 0:
                    raise Compacted(resp.compact_revision)
                raise ServiceUnavailable(f"watch cancelled by storage: {resp.cancel_reason or 'no reason given'}")
            if resp.compact_revision > 0:
                raise Compacted(resp.compact_revision)
            if resp.created and not resp.events:
                continue
            if not resp.events:
                return WatchBatch([], resp.header.revision, True)
            events = [
                WatchedEvent("DELETE" if ev.type == kv_pb2.Event.DELETE else "PUT", self._client._read(ev.kv))
                for ev in resp.events
            ]
            return WatchBatch(events, max(e.kv.mod_revision for e in events), False)
