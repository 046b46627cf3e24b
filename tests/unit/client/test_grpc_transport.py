"""GrpcTransport against a tiny in-test grpc.aio server: errors come back as the
same api.errors exceptions (from the Status metadata, else from the gRPC code),
and streams end promptly on the server when the reader stops."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import grpc
import grpc.aio
import pytest

from kubelite.api import ObjectMeta, Pod
from kubelite.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    ServiceUnavailable,
    StatusCause,
    Timeout,
)
from kubelite.client import ApiClient, GrpcTransport, Informer
from kubelite.pb.kubelite import api_pb2, api_pb2_grpc
from tests.unit.client.fake_apiserver import FakeApiServer

CODES = {
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "AlreadyExists": grpc.StatusCode.ALREADY_EXISTS,
    "Conflict": grpc.StatusCode.ABORTED,
    "Invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "BadRequest": grpc.StatusCode.INVALID_ARGUMENT,
    "Expired": grpc.StatusCode.OUT_OF_RANGE,
    "ServiceUnavailable": grpc.StatusCode.UNAVAILABLE,
}


async def eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class ScriptedApiServer(FakeApiServer):
    """The fake, plus names that trigger special answers."""

    async def Create(self, request: api_pb2.CreateRequest) -> api_pb2.Object:
        if json.loads(request.json)["metadata"]["name"] == "bad":
            raise Invalid.for_object("Pod", "bad", [StatusCause.required("spec.containers")])
        return await super().Create(request)


class Servicer(api_pb2_grpc.ResourcesServicer):  # type: ignore[misc]
    """What the apiserver's servicer does: ApiError -> code + kubelite-status-bin.

    A Get for a name that is a gRPC code name ("ABORTED") aborts with that code
    and no metadata (a foreign or broken server); "SLOW" never answers.
    """

    def __init__(self, handler: FakeApiServer):
        self.handler = handler

    async def _guard(self, context: grpc.aio.ServicerContext[Any, Any], call: Awaitable[Any]) -> Any:
        try:
            return await call
        except ApiError as err:
            metadata = (("kubelite-status-bin", json.dumps(err.to_status()).encode()),)
            await context.abort(CODES.get(err.reason, grpc.StatusCode.INTERNAL), err.message, metadata)

    async def Create(self, request: Any, context: Any) -> Any:
        return await self._guard(context, self.handler.Create(request))

    async def Get(self, request: api_pb2.GetRequest, context: Any) -> Any:
        if request.name == "SLOW":
            await asyncio.sleep(30)
        if request.name.isupper():
            await context.abort(grpc.StatusCode[request.name], f"bare {request.name}")
        return await self._guard(context, self.handler.Get(request))

    async def List(self, request: Any, context: Any) -> Any:
        return await self._guard(context, self.handler.List(request))

    async def Update(self, request: Any, context: Any) -> Any:
        return await self._guard(context, self.handler.Update(request))

    async def Delete(self, request: Any, context: Any) -> Any:
        return await self._guard(context, self.handler.Delete(request))

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for ev in self.handler.Watch(request):
                yield ev
        except ApiError as err:
            metadata = (("kubelite-status-bin", json.dumps(err.to_status()).encode()),)
            await context.abort(CODES.get(err.reason, grpc.StatusCode.INTERNAL), err.message, metadata)

    async def Logs(self, request: Any, context: Any) -> AsyncIterator[Any]:
        async for chunk in self.handler.Logs(request):
            yield chunk


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeApiServer, ApiClient]]:
    fake = ScriptedApiServer()
    server = grpc.aio.server()
    api_pb2_grpc.add_ResourcesServicer_to_server(Servicer(fake), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = ApiClient.connect(f"127.0.0.1:{port}", timeout=5)
    try:
        yield fake, client
    finally:
        await client.close()
        await server.stop(None)


def pod(name: str, ns: str = "default") -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace=ns))


async def test_round_trip_and_status_metadata_errors(served: tuple[FakeApiServer, ApiClient]) -> None:
    fake, client = served
    created = await client.create(pod("a"))
    assert created.metadata.resource_version == "2" and created.metadata.uid
    assert (await client.get(Pod, "a")).metadata.uid == created.metadata.uid
    assert [p.metadata.name for p in (await client.list(Pod)).items] == ["a"]

    with pytest.raises(NotFound) as nf:
        await client.get(Pod, "missing")
    assert str(nf.value) == 'pods "missing" not found'
    with pytest.raises(AlreadyExists):
        await client.create(pod("a"))
    stale = created.model_copy(deep=True)
    await client.update(created)
    with pytest.raises(Conflict):
        await client.update(stale)
    with pytest.raises(Invalid) as inv:
        await client.create(pod("bad"))
    assert [c.field for c in inv.value.causes] == ["spec.containers"]
    assert 'Pod "bad" is invalid' in str(inv.value)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("NOT_FOUND", NotFound),
        ("ALREADY_EXISTS", AlreadyExists),
        ("ABORTED", Conflict),
        ("INVALID_ARGUMENT", BadRequest),
        ("OUT_OF_RANGE", Expired),
        ("PERMISSION_DENIED", Forbidden),
        ("DEADLINE_EXCEEDED", Timeout),
        ("UNAVAILABLE", ServiceUnavailable),
        ("INTERNAL", InternalError),
        ("UNKNOWN", InternalError),
        ("UNIMPLEMENTED", InternalError),
    ],
)
async def test_bare_grpc_codes_map_to_api_errors(
    served: tuple[FakeApiServer, ApiClient], code: str, error: type[ApiError]
) -> None:
    _, client = served
    with pytest.raises(error):
        await client.get(Pod, code)


async def test_deadline_maps_to_timeout(served: tuple[FakeApiServer, ApiClient]) -> None:
    _, client = served
    assert isinstance(client.transport, GrpcTransport)
    client.transport.timeout = 0.05
    with pytest.raises(Timeout, match="timed out"):
        await client.get(Pod, "SLOW")


async def test_unreachable_apiserver_is_service_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ApiClient.connect(f"127.0.0.1:{port}", timeout=5)
    try:
        with pytest.raises(ServiceUnavailable, match=f"apiserver unreachable at 127.0.0.1:{port}"):
            await client.list(Pod)
    finally:
        await client.close()


async def test_watch_expired_and_stream_closed_on_server_when_reader_stops(
    served: tuple[FakeApiServer, ApiClient],
) -> None:
    fake, client = served
    await client.create(pod("a"))
    async with aclosing(client.watch(Pod, resource_version="0")) as events:
        async for ev in events:
            assert (ev.type, ev.object.metadata.name) == ("ADDED", "a")
            break
    await eventually(lambda: fake.active_watches == 0, what="server-side watch ended after aclose")

    # A reader task that is cancelled while waiting also ends the call.
    async def read_all() -> None:
        async for _ in client.watch(Pod, resource_version="2"):
            pass

    reader = asyncio.create_task(read_all())
    await eventually(lambda: fake.active_watches == 1, what="watch open")
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await eventually(lambda: fake.active_watches == 0, what="server-side watch ended after cancel")

    fake.compact()
    with pytest.raises(Expired):
        async for _ in client.watch(Pod, resource_version="1"):
            pass


async def test_close_ends_open_streams_with_a_clear_error(served: tuple[FakeApiServer, ApiClient]) -> None:
    fake, client = served

    async def read_all() -> None:
        async for _ in client.watch(Pod, resource_version="1"):
            pass

    reader = asyncio.create_task(read_all())
    slow_get = asyncio.create_task(client.get(Pod, "SLOW"))
    await eventually(lambda: fake.active_watches == 1, what="watch open")
    await client.close()
    with pytest.raises(ServiceUnavailable):
        await asyncio.wait_for(reader, 5)
    with pytest.raises(ServiceUnavailable):
        await asyncio.wait_for(slow_get, 5)
    await eventually(lambda: fake.active_watches == 0, what="server-side watch ended")
    with pytest.raises(ServiceUnavailable, match="closed"):
        await client.get(Pod, "a")


async def test_logs_stream(served: tuple[FakeApiServer, ApiClient]) -> None:
    _, client = served
    chunks = [c async for c in client.logs("default", "web-1", follow=True, tail_lines=10)]
    assert b"".join(chunks) == b"web-1 line 0\nweb-1 line 1\nweb-1 line 2\n"


async def test_informer_resumes_over_grpc(served: tuple[FakeApiServer, ApiClient]) -> None:
    fake, client = served
    await client.create(pod("a"))
    seen: list[str] = []
    inf = Informer(client, Pod)
    inf.add_handlers(on_add=lambda p: seen.append(p.metadata.name or ""))
    task = asyncio.create_task(inf.run())
    try:
        await asyncio.wait_for(inf.wait_synced(), 5)
        await eventually(lambda: fake.active_watches == 1, what="watch open")
        await fake.drop_watches()
        await client.create(pod("b"))
        await eventually(lambda: seen == ["a", "b"], what="event after the dropped stream")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await eventually(lambda: fake.active_watches == 0, what="no leaked watch")
