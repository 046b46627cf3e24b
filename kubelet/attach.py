"""Attach: stream a running container's own stdout/stderr (`kubectl attach`).

Why conmon's attach socket: conmon owns the container's stdio and already serves it on a
SOCK_SEQPACKET unix socket (`<container dir>/attach`, made because of
`--socket-dir-path`); every packet is one byte naming the pipe (2 stdout, 3 stderr) and
the bytes. Reading it shows output from now on, as Kubernetes' attach does, and the socket
closing means the container ended. Containers have no stdin in kubelite (the Pod model has
no `stdin` field), so attach never writes; the process runtime keeps no such socket, so
there attach is refused with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from kubelite.api.errors import BadRequest
from kubelite.pb.kubelite import api_pb2

PACKET = 8192 + 1
PIPES = {2: 1, 3: 2}  # conmon's pipe byte -> stdout (1) / stderr (2)


@runtime_checkable
class AttachBackend(Protocol):
    """Finds the attach socket of a running container (PodWorkers.attach_socket)."""

    async def attach_socket(self, namespace: str, name: str, uid: str, container: str) -> Path: ...


async def container_output(path: Path) -> AsyncGenerator[tuple[int, bytes], None]:
    """(1 stdout | 2 stderr, bytes) as the container writes them, until it ends."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.setblocking(False)
    try:
        try:
            await loop.sock_connect(sock, str(path))
        except OSError as exc:
            raise BadRequest(f"cannot attach: the container's attach socket is not available ({exc.strerror})") from None
        while packet := await loop.sock_recv(sock, PACKET):
            stream = PIPES.get(packet[0])
            if stream is not None and len(packet) > 1:
                yield stream, packet[1:]
    finally:
        sock.close()


async def attach(backend: AttachBackend, start: api_pb2.ExecStart) -> AsyncIterator[api_pb2.ExecResponse]:
    """Serve an Attach call: output chunks, then `exited` (code 0) when the container ends."""
    if start.stdin or start.tty:
        raise BadRequest(f"cannot attach to the stdin or terminal of container {start.container}: kubelite "
                         "containers have neither (attach without -i/-t to stream its output)")
    path = await backend.attach_socket(start.namespace or "default", start.name, start.pod_uid, start.container)
    async with contextlib.aclosing(container_output(path)) as output:
        async for stream, data in output:
            yield api_pb2.ExecResponse(stderr=data) if stream == 2 else api_pb2.ExecResponse(stdout=data)
    yield api_pb2.ExecResponse(exited=True, exit_code=0)
