"""The small HTTP client reads the body framings registries use and fails with clear messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kubelet.images.http import HttpError, request


async def serve(answer: bytes) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v2/"


@pytest.fixture
async def server_for() -> AsyncIterator[Callable[[bytes], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> str:
        server, url = await serve(answer)
        servers.append(server)
        return url

    yield start
    for s in servers:
        s.close()
        await s.wait_closed()


async def test_chunked_content_length_and_eof(server_for: Callable[[bytes], Awaitable[str]]) -> None:
    url = await server_for(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
    resp = await request("GET", url)
    assert resp.status == 200 and await resp.read() == b"hello world"
    url = await server_for(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabcTRAILING")
    resp = await request("GET", url)
    assert (resp.status, resp.reason, resp.header("x-a")) == (404, "Not Found", "1")
    assert await resp.read() == b"abc"
    url = await server_for(b"HTTP/1.0 200 OK\r\n\r\nuntil-eof")
    assert await (await request("GET", url)).read() == b"until-eof"


async def test_truncated_and_garbage(server_for: Callable[[bytes], Awaitable[str]]) -> None:
    url = await server_for(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
    with pytest.raises(HttpError, match="connection closed in the middle"):
        await (await request("GET", url)).read()
    url = await server_for(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(HttpError, match="not an HTTP response"):
        await request("GET", url)
    with pytest.raises(HttpError, match="unsupported URL"):
        await request("GET", "ftp://x/")
