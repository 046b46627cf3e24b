"""A minimal asyncio HTTP/1.1 client, just enough for the OCI distribution API.

Why not a library: the project's dependency set has no async HTTP client, and
the registry protocol needs little: one request per connection, Content-Length
or chunked bodies streamed in pieces (layers can be large), TLS with a custom
CA or without verification for a cluster-local registry. Redirects and auth are
handled by the caller, which knows when credentials may be forwarded.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 1 << 16


class HttpError(Exception):
    """The request could not be completed at the connection level (no HTTP answer).

    `tls` is True when the TLS handshake failed: a caller allowed to use plain
    HTTP (an insecure registry) may then retry with http://.
    """

    def __init__(self, message: str, tls: bool = False) -> None:
        super().__init__(message)
        self.tls = tls


@dataclass
class HttpResponse:
    """Status and headers; the body is read (or streamed) once, then the connection closes."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    url: str
    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter
    _timeout: float
    _has_body: bool = True
    _closed: bool = field(default=False)

    def header(self, name: str, default: str = "") -> str:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    async def _read(self, n: int | None, exactly: bool) -> bytes:
        try:
            if exactly and n is not None:
                return await asyncio.wait_for(self._reader.readexactly(n), self._timeout)
            return await asyncio.wait_for(self._reader.read(n if n is not None else CHUNK),
                                          self._timeout)
        except asyncio.IncompleteReadError:
            raise HttpError(f"{self.url}: connection closed in the middle of the response body") from None
        except TimeoutError:
            raise HttpError(f"{self.url}: no data for {self._timeout:g}s while reading the response") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"{self.url}: {exc}") from None

    async def iter_body(self) -> AsyncIterator[bytes]:
        """Yield the body in pieces as they arrive (Content-Length, chunked, or until EOF)."""
        try:
            if not self._has_body:
                return
            if self.header("transfer-encoding").lower() == "chunked":
                while True:
                    line = await self._readline()
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise HttpError(f"{self.url}: bad chunk header {line[:40]!r}") from None
                    if size == 0:
                        while (await self._readline()).strip():
                            pass  # trailers
                        return
                    while size > 0:
                        piece = await self._read(min(size, CHUNK), exactly=True)
                        size -= len(piece)
                        yield piece
                    await self._readline()
            elif self.header("content-length"):
                remaining = int(self.header("content-length"))
                while remaining > 0:
                    piece = await self._read(min(remaining, CHUNK), exactly=True)
                    remaining -= len(piece)
                    yield piece
            else:
                while piece := await self._read(None, exactly=False):
                    yield piece
        finally:
            self.close()

    async def _readline(self) -> bytes:
        try:
            return await asyncio.wait_for(self._reader.readline(), self._timeout)
        except TimeoutError:
            raise HttpError(f"{self.url}: no data for {self._timeout:g}s while reading the response") from None
        except (OSError, ValueError) as exc:
            raise HttpError(f"{self.url}: {exc}") from None

    async def read(self, limit: int = 16 << 20) -> bytes:
        """The whole body (refused above `limit`: manifests and errors are small)."""
        parts: list[bytes] = []
        total = 0
        async for piece in self.iter_body():
            total += len(piece)
            if total > limit:
                self.close()
                raise HttpError(f"{self.url}: response body larger than {limit} bytes")
            parts.append(piece)
        return b"".join(parts)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.close()


def _describe(exc: OSError) -> str:
    """`Connection refused` rather than asyncio's `Connect call failed (...)` or an empty string."""
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


async def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> HttpResponse:
    """Send one request on a fresh connection and return once the headers are in.

    `body` may be a file path, streamed with a Content-Length (layer uploads).
    Connection failures, TLS failures and timeouts raise HttpError with the URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"unsupported URL {url!r}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    tls: ssl.SSLContext | None = None
    if parts.scheme == "https":
        tls = ssl_context or ssl.create_default_context()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None,
                                    limit=1 << 20),
            timeout,
        )
    except TimeoutError:
        raise HttpError(f"{url}: connection timed out after {timeout:g}s") from None
    except ssl.SSLCertVerificationError as exc:
        raise HttpError(f"{url}: TLS certificate verify failed: {exc.verify_message} (give the registry's CA, "
                        "or mark the registry insecure)", tls=False) from None
    except ssl.SSLError as exc:
        raise HttpError(f"{url}: TLS handshake failed: {exc.reason or exc}", tls=True) from None
    except (ConnectionResetError, BrokenPipeError) as exc:
        # After TCP connected, a reset means the peer dropped our TLS handshake (a plain-HTTP server).
        raise HttpError(f"{url}: {_describe(exc)}", tls=tls is not None) from None
    except OSError as exc:
        raise HttpError(f"{url}: {_describe(exc)}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    all_headers = {"Host": _host_header(host, port, parts.scheme), "User-Agent": "kubelite-kubelet",
                   "Connection": "close"}
    all_headers.update(headers or {})
    size = len(body) if isinstance(body, bytes) else body.stat().st_size if isinstance(body, Path) else 0
    if body is not None or method in ("POST", "PUT", "PATCH"):
        all_headers["Content-Length"] = str(size)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items()) + "\r\n"
    try:
        writer.write(head.encode("latin-1"))
        if isinstance(body, bytes):
            writer.write(body)
        elif isinstance(body, Path):
            with open(body, "rb") as f:
                while piece := f.read(CHUNK):
                    writer.write(piece)
                    await asyncio.wait_for(writer.drain(), timeout)
        await asyncio.wait_for(writer.drain(), timeout)
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise HttpError(f"{url}: not an HTTP response ({status_line[:60]!r})")
        header_list: list[tuple[str, str]] = []
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            header_list.append((key.strip().lower(), value.strip()))
    except TimeoutError:
        writer.close()
        raise HttpError(f"{url}: no response within {timeout:g}s") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        writer.close()
        raise HttpError(f"{url}: {exc}") from None
    except HttpError:
        writer.close()
        raise
    status = int(fields[1])
    has_body = method != "HEAD" and status not in (204, 304) and not 100 <= status < 200
    return HttpResponse(status, fields[2].strip() if len(fields) > 2 else "", header_list, url,
                        reader, writer, timeout, has_body)
