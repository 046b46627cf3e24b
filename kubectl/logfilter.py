"""Line-wise shaping of log bytes: `--since`/`--since-time`, `--prefix`, and optional timestamps.

Why client-side: the Logs RPC has no since field, so kctl asks for timestamped lines and
drops the older ones itself, removing the timestamps again unless `--timestamps` was given.
Pure (bytes in, bytes out) so its cases are tested without a kubelet.
"""

from __future__ import annotations

import re
from datetime import datetime

from kubelite.api.timeutil import parse_time_or_none

_FRACTION = re.compile(r"\.(\d{6})\d+")


def line_time(stamp: str) -> datetime | None:
    """An RFC 3339 (nano) timestamp; Python keeps microseconds, so extra digits are cut."""
    return parse_time_or_none(_FRACTION.sub(r".\1", stamp))


class LineFilter:
    """Feed chunks, get back the bytes to print; `flush` returns an unterminated last line."""

    def __init__(self, since: datetime | None, keep_timestamps: bool, prefix: str = "") -> None:
        self.since = since
        self.keep_timestamps = keep_timestamps
        self.prefix = prefix.encode()
        self._pending = b""

    @property
    def needs_timestamps(self) -> bool:
        """Whether the server must send timestamps for this filter to work."""
        return self.since is not None or self.keep_timestamps

    def _line(self, line: bytes) -> bytes:
        if self.since is not None:
            stamp, _, rest = line.partition(b" ")
            when = line_time(stamp.decode(errors="replace"))
            if when is not None and when < self.since:
                return b""
            if not self.keep_timestamps and when is not None:
                line = rest
        return self.prefix + line

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return b"".join(self._line(line + b"\n") for line in lines)

    def flush(self) -> bytes:
        rest, self._pending = self._pending, b""
        return self._line(rest) if rest else b""
