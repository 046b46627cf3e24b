"""Generated services are registered through their generic handler only (`kubelite.daemon.grpcregister`)."""

from __future__ import annotations

import grpc
import pytest

from kubelite.daemon.grpcregister import add_service
from kubelite.pb.etcd import rpc_pb2, rpc_pb2_grpc


class KV(rpc_pb2_grpc.KVServicer):
    async def Range(self, request: rpc_pb2.RangeRequest, context: object) -> rpc_pb2.RangeResponse:
        return rpc_pb2.RangeResponse(count=len(request.key))


async def test_a_service_added_through_its_generic_handler_serves_calls() -> None:
    server = grpc.aio.server()
    add_service(rpc_pb2_grpc.add_KVServicer_to_server, KV(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            got = await rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"abc"))  # type: ignore[no-untyped-call]
            assert got.count == 3
            with pytest.raises(grpc.aio.AioRpcError) as exc:  # an unimplemented method still answers
                await rpc_pb2_grpc.KVStub(channel).Put(rpc_pb2.PutRequest(key=b"k"))  # type: ignore[no-untyped-call]
            assert exc.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(None)


def test_the_registered_method_table_stays_empty() -> None:
    """What makes every call cheaper: the aio server waits on one request future, not one per
    method (module doc)."""
    calls: list[str] = []

    class Recorder:
        def add_generic_rpc_handlers(self, handlers: object) -> None:
            calls.append("generic")

        def add_registered_method_handlers(self, service: str, handlers: object) -> None:
            calls.append("registered")

    add_service(rpc_pb2_grpc.add_KVServicer_to_server, KV(), Recorder())  # type: ignore[arg-type]
    assert calls == ["generic"]
