"""Open a TCP connection inside another network namespace (a node's), from this process.

Why: plain health endpoints listen only on loopback (issue 13: "plain gRPC only on
loopback health endpoints"), and a kubelet or proxy runs in its node's network
namespace, so its 127.0.0.1 is that namespace's loopback, unreachable from the host.
`setns(2)` with CLONE_NEWNET switches only the calling *thread*, and a socket keeps
the namespace it was created in, so a short-lived thread enters the namespace,
connects, and the connected socket is handed back to asyncio. A fresh thread (not
the shared executor) does it, so no pooled thread can ever be left in a node's
namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def connect_in_netns_sync(netns_path: str, host: str, port: int, timeout: float) -> socket.socket:
    """A non-blocking socket connected to host:port from inside `netns_path` (call in a fresh thread)."""
    target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)  # this thread only; it ends right after
    finally:
        os.close(target)
    sock = socket.create_connection((host, port), timeout)
    sock.setblocking(False)
    return sock


async def open_connection(netns_path: str, host: str, port: int,
                          timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio streams to host:port as seen from the network namespace at `netns_path`."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def fail(exc: BaseException) -> None:
        if not done.done():
            done.set_exception(exc)

    def work() -> None:
        try:
            sock = connect_in_netns_sync(netns_path, host, port, timeout)
        except Exception as exc:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(fail, exc)
            return

        def deliver() -> None:
            if done.done():  # the caller gave up (timeout): do not leak the socket
                sock.close()
            else:
                done.set_result(sock)
        loop.call_soon_threadsafe(deliver)

    threading.Thread(target=work, name="netns-connect", daemon=True).start()
    sock = await asyncio.wait_for(asyncio.shield(done), timeout)
    return await asyncio.open_connection(sock=sock)
