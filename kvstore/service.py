"""etcd v3 gRPC services (KV, Watch, Lease, Cluster, Maintenance) over a KVNode.

Why thin: validation that etcd does before proposing (so a bad request is never
logged) and the mapping of KVError to a gRPC status live here; all state logic
is in the node/store. Every handler turns any failure into a gRPC status: a bad
request never crashes the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kubelite.daemon.grpcregister import add_service
from kubelite.pb.etcd import internal_pb2, rpc_pb2, rpc_pb2_grpc
from kvstore import errors
from kvstore.errors import KVError
from kvstore.mvcc import MAX_LEASE_TTL
from kvstore.node import KVNode
from kvstore.validate import check_put, check_txn, is_read_only

log = logging.getLogger(__name__)

VERSION = "3.4.0"
"""The etcd API version this kvstore speaks (what etcdctl shows in endpoint status)."""

Ctx = grpc.aio.ServicerContext[Any, Any]
_Resp = TypeVar("_Resp")
_Write = TypeVar("_Write", rpc_pb2.PutResponse, rpc_pb2.DeleteRangeResponse, rpc_pb2.TxnResponse,
                 rpc_pb2.CompactionResponse)


async def _guard(context: Ctx, call: Callable[[], Awaitable[_Resp]]) -> _Resp:
    """Run a handler; KVError -> its status, anything unexpected -> INTERNAL (logged)."""
    try:
        return await call()
    except KVError as exc:
        await context.abort(exc.code, exc.message)
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception as exc:
        log.exception("request failed unexpectedly")
        await context.abort(grpc.StatusCode.INTERNAL, f"etcdserver: internal error: {exc!r}")
    raise AssertionError("unreachable")  # context.abort always raises


def _internal(**kwargs: Any) -> internal_pb2.InternalRaftRequest:
    return internal_pb2.InternalRaftRequest(**kwargs)


class KVService(rpc_pb2_grpc.KVServicer):
    def __init__(self, node: KVNode) -> None:
        self._node = node

    async def _propose(self, response: type[_Write], **request: Any) -> _Write:
        """Replicate one write and answer it with this member's header."""
        resp = await self._node.propose(_internal(**request))
        assert isinstance(resp, response)
        self._node.fill_header(resp.header)
        return resp

    async def Range(self, request: rpc_pb2.RangeRequest, context: Ctx) -> rpc_pb2.RangeResponse:
        async def call() -> rpc_pb2.RangeResponse:
            if not request.serializable:
                await self._node.linearizable_read()
            resp = self._node.store.range(request)
            self._node.fill_header(resp.header)
            return resp
        return await _guard(context, call)

    async def Put(self, request: rpc_pb2.PutRequest, context: Ctx) -> rpc_pb2.PutResponse:
        async def call() -> rpc_pb2.PutResponse:
            check_put(request)
            return await self._propose(rpc_pb2.PutResponse, put=request)
        return await _guard(context, call)

    async def DeleteRange(self, request: rpc_pb2.DeleteRangeRequest, context: Ctx) -> rpc_pb2.DeleteRangeResponse:
        async def call() -> rpc_pb2.DeleteRangeResponse:
            if not request.key:
                raise errors.empty_key()
            return await self._propose(rpc_pb2.DeleteRangeResponse, delete_range=request)
        return await _guard(context, call)

    async def Txn(self, request: rpc_pb2.TxnRequest, context: Ctx) -> rpc_pb2.TxnResponse:
        async def call() -> rpc_pb2.TxnResponse:
            check_txn(request)
            if is_read_only(request):
                await self._node.linearizable_read()
                resp = self._node.store.txn_read_only(request)
                self._node.fill_header(resp.header)
                return resp
            return await self._propose(rpc_pb2.TxnResponse, txn=request)
        return await _guard(context, call)

    async def Compact(self, request: rpc_pb2.CompactionRequest, context: Ctx) -> rpc_pb2.CompactionResponse:
        async def call() -> rpc_pb2.CompactionResponse:
            return await self._propose(rpc_pb2.CompactionResponse, compaction=request)
        return await _guard(context, call)


class WatchService(rpc_pb2_grpc.WatchServicer):
    def __init__(self, node: KVNode) -> None:
        self._node = node

    async def Watch(
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: Ctx,
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        stream = self._node.hub.open_stream()

        async def read_requests() -> None:
            try:
                async for req in request_iterator:
                    kind = req.WhichOneof("request_union")
                    if kind == "create_request":
                        stream.create(req.create_request)
                    elif kind == "cancel_request":
                        stream.cancel(req.cancel_request.watch_id)
                    elif kind == "progress_request":
                        stream.request_progress()
            except (grpc.aio.AioRpcError, asyncio.CancelledError):
                stream.close()
                raise
            # A half-closed stream keeps delivering events, as etcd does.

        reader = asyncio.create_task(read_requests())
        try:
            async for resp in stream.responses():
                yield resp
        finally:
            stream.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


class LeaseService(rpc_pb2_grpc.LeaseServicer):
    def __init__(self, node: KVNode) -> None:
        self._node = node

    async def LeaseGrant(self, request: rpc_pb2.LeaseGrantRequest, context: Ctx) -> rpc_pb2.LeaseGrantResponse:
        async def call() -> rpc_pb2.LeaseGrantResponse:
            if request.TTL > MAX_LEASE_TTL:
                raise errors.lease_ttl_too_large()
            resp = await self._node.grant_lease(request.TTL, request.ID)
            self._node.fill_header(resp.header)
            return resp
        return await _guard(context, call)

    async def LeaseRevoke(self, request: rpc_pb2.LeaseRevokeRequest, context: Ctx) -> rpc_pb2.LeaseRevokeResponse:
        async def call() -> rpc_pb2.LeaseRevokeResponse:
            resp = await self._node.revoke_lease(request.ID)
            self._node.fill_header(resp.header)
            return resp
        return await _guard(context, call)

    async def LeaseKeepAlive(
        self, request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest], context: Ctx,
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        async for req in request_iterator:
            try:
                ttl = await self._node.keep_alive(req.ID)
            except KVError as exc:
                await context.abort(exc.code, exc.message)
            yield rpc_pb2.LeaseKeepAliveResponse(header=self._node.header(), ID=req.ID, TTL=ttl)

    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Ctx,
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        async def call() -> rpc_pb2.LeaseTimeToLiveResponse:
            return await self._node.time_to_live(request.ID, request.keys)
        return await _guard(context, call)

    async def LeaseLeases(self, request: rpc_pb2.LeaseLeasesRequest, context: Ctx) -> rpc_pb2.LeaseLeasesResponse:
        return rpc_pb2.LeaseLeasesResponse(
            header=self._node.header(),
            leases=[rpc_pb2.LeaseStatus(ID=i) for i in self._node.lessor.leases()],
        )


class ClusterService(rpc_pb2_grpc.ClusterServicer):
    """Membership: list from the replicated member table; add/remove one member at a time via Raft."""

    def __init__(self, node: KVNode) -> None:
        self._node = node

    def _members(self) -> list[rpc_pb2.Member]:
        return self._node.membership.sorted()

    async def MemberList(self, request: rpc_pb2.MemberListRequest, context: Ctx) -> rpc_pb2.MemberListResponse:
        async def call() -> rpc_pb2.MemberListResponse:
            if request.linearizable:
                await self._node.linearizable_read()
            return rpc_pb2.MemberListResponse(header=self._node.header(), members=self._members())
        return await _guard(context, call)

    async def MemberAdd(self, request: rpc_pb2.MemberAddRequest, context: Ctx) -> rpc_pb2.MemberAddResponse:
        async def call() -> rpc_pb2.MemberAddResponse:
            member = await self._node.member_add(list(request.peerURLs), request.isLearner)
            return rpc_pb2.MemberAddResponse(header=self._node.header(), member=member, members=self._members())
        return await _guard(context, call)

    async def MemberRemove(self, request: rpc_pb2.MemberRemoveRequest, context: Ctx) -> rpc_pb2.MemberRemoveResponse:
        async def call() -> rpc_pb2.MemberRemoveResponse:
            await self._node.member_remove(request.ID)
            return rpc_pb2.MemberRemoveResponse(header=self._node.header(), members=self._members())
        return await _guard(context, call)

    async def _unsupported(self, context: Ctx, what: str) -> None:
        exc = errors.not_supported(what)
        await context.abort(exc.code, exc.message)

    async def MemberUpdate(self, request: rpc_pb2.MemberUpdateRequest, context: Ctx) -> rpc_pb2.MemberUpdateResponse:
        await self._unsupported(context, "member update")
        raise AssertionError("unreachable")

    async def MemberPromote(
        self, request: rpc_pb2.MemberPromoteRequest, context: Ctx,
    ) -> rpc_pb2.MemberPromoteResponse:
        await self._unsupported(context, "learner promotion")
        raise AssertionError("unreachable")


class MaintenanceService(rpc_pb2_grpc.MaintenanceServicer):
    def __init__(self, node: KVNode) -> None:
        self._node = node

    async def Status(self, request: rpc_pb2.StatusRequest, context: Ctx) -> rpc_pb2.StatusResponse:
        node = self._node
        size = await asyncio.to_thread(node.disk_bytes)
        problem = node.disk_wait.problem()
        errs = ([] if node.leader else [errors.no_leader().message]) + ([problem] if problem else [])
        return rpc_pb2.StatusResponse(
            header=node.header(), version=VERSION, dbSize=size, dbSizeInUse=size,
            leader=node.leader, raftIndex=node.commit_index, raftTerm=node.term,
            raftAppliedIndex=node.applied_index, errors=errs,
        )

    async def Alarm(self, request: rpc_pb2.AlarmRequest, context: Ctx) -> rpc_pb2.AlarmResponse:
        """Only this member's NOSPACE while its disk is full: it clears itself once the member
        wrote to its disk again, so there is nothing to deactivate by hand."""
        node = self._node
        fault = node.disk_wait.fault
        alarms = [rpc_pb2.AlarmMember(memberID=node.identity.member_id, alarm=rpc_pb2.NOSPACE)] \
            if fault is not None and fault.no_space else []
        return rpc_pb2.AlarmResponse(header=node.header(), alarms=alarms)

    async def Defragment(self, request: rpc_pb2.DefragmentRequest, context: Ctx) -> rpc_pb2.DefragmentResponse:
        return rpc_pb2.DefragmentResponse(header=self._node.header())  # nothing to defragment in memory

    def _hash(self, revision: int) -> int:
        store = self._node.store
        req = rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0", revision=revision)
        crc = 0
        for kv in store.range(req).kvs:
            crc = zlib.crc32(kv.SerializeToString(), crc)
        return crc

    async def Hash(self, request: rpc_pb2.HashRequest, context: Ctx) -> rpc_pb2.HashResponse:
        return await _guard(context, self._hash_response)

    async def _hash_response(self) -> rpc_pb2.HashResponse:
        return rpc_pb2.HashResponse(header=self._node.header(), hash=self._hash(0))

    async def HashKV(self, request: rpc_pb2.HashKVRequest, context: Ctx) -> rpc_pb2.HashKVResponse:
        async def call() -> rpc_pb2.HashKVResponse:
            return rpc_pb2.HashKVResponse(
                header=self._node.header(), hash=self._hash(request.revision),
                compact_revision=self._node.store.compact_revision,
            )
        return await _guard(context, call)

    async def MoveLeader(self, request: rpc_pb2.MoveLeaderRequest, context: Ctx) -> rpc_pb2.MoveLeaderResponse:
        async def call() -> rpc_pb2.MoveLeaderResponse:
            node = self._node
            if not node.is_leader:
                raise errors.not_leader()
            if request.targetID not in node.membership.members:
                raise errors.bad_leader_transferee()
            if request.targetID != node.identity.member_id:
                node.transfer_leadership(request.targetID)
                deadline = asyncio.get_running_loop().time() + node.request_timeout
                while node.leader != request.targetID:
                    if asyncio.get_running_loop().time() > deadline:
                        raise errors.timeout()
                    await asyncio.sleep(0.05)
            return rpc_pb2.MoveLeaderResponse(header=node.header())
        return await _guard(context, call)


def add_services(server: grpc.aio.Server, node: KVNode) -> None:
    add_service(rpc_pb2_grpc.add_KVServicer_to_server, KVService(node), server)
    add_service(rpc_pb2_grpc.add_WatchServicer_to_server, WatchService(node), server)
    add_service(rpc_pb2_grpc.add_LeaseServicer_to_server, LeaseService(node), server)
    add_service(rpc_pb2_grpc.add_ClusterServicer_to_server, ClusterService(node), server)
    add_service(rpc_pb2_grpc.add_MaintenanceServicer_to_server, MaintenanceService(node), server)
