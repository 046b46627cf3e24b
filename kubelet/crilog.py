"""The CRI container log format: writing it from a process's pipes, reading it back.

Why the CRI format (`<RFC3339Nano> <stream> <P|F> <content>`): it is what
Kubernetes runtimes (and conmon, which the runc runtime will use) write, so the
log reader in the kubelet's Logs service works the same for every runtime, and
timestamps are kept per line for `--timestamps`.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

# Lines longer than this are split into partial ("P") entries, as CRI runtimes do.
MAX_ENTRY = 16 * 1024


def rfc3339_nano(ns: int | None = None) -> str:
    """`2026-01-02T03:04:05.123456789Z` (UTC) for a time in ns since the epoch."""
    ns = time.time_ns() if ns is None else ns
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


_TIMESTAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def timestamp_ns(stamp: bytes) -> int | None:
    """ns since the epoch of an entry's timestamp (UTC "...Z" as we write it, or with an offset
    as conmon writes it); None if malformed."""
    match = _TIMESTAMP.match(stamp)
    if match is None:
        return None
    whole, fraction, zone = (g.decode() if g else "" for g in match.groups())
    try:
        when = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return int(when.timestamp()) * 1_000_000_000 + int(fraction.ljust(9, "0"))


def format_entry(stream: str, content: bytes, partial: bool, ns: int | None = None) -> bytes:
    tag = b"P" if partial else b"F"
    return rfc3339_nano(ns).encode() + b" " + stream.encode() + b" " + tag + b" " + content + b"\n"


@dataclass(frozen=True)
class Entry:
    timestamp: bytes
    stream: bytes
    partial: bool
    content: bytes

    def render(self, timestamps: bool) -> bytes:
        """The user-visible bytes of this entry: content (+ newline unless partial)."""
        out = self.content if self.partial else self.content + b"\n"
        return self.timestamp + b" " + out if timestamps else out


def parse_line(line: bytes) -> Entry | None:
    """Parse one CRI log line (without its trailing newline); None if malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"P", b"F"):
        return None
    content = parts[3] if len(parts) == 4 else b""
    return Entry(parts[0], parts[1], parts[2] == b"P", content)


class LogSink:
    """One CRI log file shared by a container's stdout and stderr pumps.

    Entries are written whole and flushed at once so readers (logs --follow)
    never see half an entry and see output promptly.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def write(self, stream: str, content: bytes, partial: bool) -> None:
        try:
            self._file.write(format_entry(stream, content, partial))
            self._file.flush()
        except (OSError, ValueError):  # disk full or closed: the container keeps running
            pass

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass


async def open_pipe(fd: int) -> tuple[asyncio.StreamReader, asyncio.ReadTransport]:
    """Wrap the read end of a pipe (taking ownership of `fd`) in a StreamReader."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 * MAX_ENTRY)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport


async def pump(reader: asyncio.StreamReader, stream: str, sink: LogSink) -> None:
    """Copy a pipe into the log as CRI entries until EOF, splitting overlong lines."""
    pending = b""
    while True:
        chunk = await reader.read(64 * 1024)
        if not chunk:
            break
        pending += chunk
        while True:
            nl = pending.find(b"\n")
            if nl < 0:
                break
            line, pending = pending[:nl], pending[nl + 1 :]
            _write_line(sink, stream, line)
        while len(pending) >= MAX_ENTRY:
            sink.write(stream, pending[:MAX_ENTRY], partial=True)
            pending = pending[MAX_ENTRY:]
    if pending:
        sink.write(stream, pending, partial=False)


def _write_line(sink: LogSink, stream: str, line: bytes) -> None:
    while len(line) > MAX_ENTRY:
        sink.write(stream, line[:MAX_ENTRY], partial=True)
        line = line[MAX_ENTRY:]
    sink.write(stream, line, partial=False)
