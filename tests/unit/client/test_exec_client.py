"""`ApiClient.exec` over the in-process transport: the request stream (start, stdin
chunks, close) reaches the handler in order; output and the exit code come back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubelite.api.errors import BadRequest
from kubelite.client import ApiClient, LocalTransport
from kubelite.pb.kubelite import api_pb2


class EchoExec:
    """A handler whose Exec echoes stdin upper-cased, then exits with len(command)."""

    async def Exec(self, requests: AsyncIterator[api_pb2.ExecRequest]) -> AsyncIterator[api_pb2.ExecResponse]:
        first = await anext(aiter(requests))
        if first.start.name == "bad":
            raise BadRequest("no such container")
        yield api_pb2.ExecResponse(stderr=f"{first.start.namespace}/{first.start.name}".encode())
        async for request in requests:
            if request.stdin:
                yield api_pb2.ExecResponse(stdout=request.stdin.upper())
            if request.close_stdin:
                break
        yield api_pb2.ExecResponse(exited=True, exit_code=len(first.start.command))


async def test_exec_streams_both_ways() -> None:
    client = ApiClient(LocalTransport(EchoExec()))  # type: ignore[arg-type]
    got: list[tuple[int, bytes]] = []

    async def stdin() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    code = await client.exec("", "pod", ["a", "b", "c"], stdin=stdin(), on_output=lambda fd, d: got.append((fd, d)))
    assert code == 3
    assert got == [(2, b"default/pod"), (1, b"AB"), (1, b"CD")]
    with pytest.raises(BadRequest, match="no such container"):
        await client.exec("ns", "bad", ["x"], on_output=lambda fd, d: None)
