"""New pod namespaces (IPC, and network + UTS unless host network) made in-process.

Why not `unshare(1)`: the old way ran `unshare`, a shell and `ip` (three execs,
~10 ms quiet and several times that on a busy node) for what is four system
calls. A thread may enter new namespaces of these kinds on its own (unlike user
or mount namespaces, they need no single-threaded process), so a short-lived
thread of the kubelet does it: unshare(2), set the hostname and bring `lo` up
inside, bind-mount its namespace files onto the sandbox's files, and exit. The
bind mounts then hold the namespaces; the kubelet's other threads never left
their own (the thread is never reused, unlike those of an executor pool).
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import socket
import struct
import threading
from pathlib import Path

from kubelet.runc import overlay

CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
FLAGS = {"ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "net": CLONE_NEWNET}
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH"  # struct ifreq: the name, then ifr_flags (the rest of the union is padding)
_IFREQ_SIZE = 40

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]


def loopback_up() -> None:
    """Set `lo` of the calling thread's network namespace up (what the CNI loopback plugin does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack(_IFREQ, b"lo", 0).ljust(_IFREQ_SIZE, b"\0")
        flags = struct.unpack_from(_IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP).ljust(_IFREQ_SIZE, b"\0"))


def _make(directory: Path, kinds: list[str], hostname: str | None) -> None:
    """Runs in its own thread, which ends afterwards (it is left inside the new namespaces)."""
    flags = 0
    for kind in kinds:
        flags |= FLAGS[kind]
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare({', '.join(kinds)}): {os.strerror(err)}")
    if hostname is not None and "uts" in kinds:
        socket.sethostname(hostname)
    if "net" in kinds:
        loopback_up()
    tid = threading.get_native_id()
    for kind in kinds:
        overlay.bind_mount(f"/proc/self/task/{tid}/ns/{kind}", directory / kind)


async def create(directory: Path, kinds: list[str], hostname: str | None) -> None:
    """Make fresh namespaces of `kinds` held by bind mounts on `directory/<kind>` (files
    created here). Raises OSError naming the step that failed."""
    for kind in kinds:
        (directory / kind).touch()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)

    def run() -> None:
        try:
            _make(directory, kinds, hostname)
        except BaseException as exc:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, exc)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=run, name="pod-namespaces", daemon=True).start()
    await done
