"""An in-process OCI distribution registry for client tests (auth modes, redirects, gating).

A real docker-registry is used by the integration tests; this fake lets unit
tests exercise behaviour a stock registry will not show on demand: Bearer
token challenges, redirects to another host, corrupt blobs, request counting
and holding a blob response until the test lets it go.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from kubelet.images.builder import BuiltImage
from kubelet.images.manifest import OCI_MANIFEST


@dataclass
class FakeRegistry:
    auth: str = ""  # "", "basic", "bearer"
    user: str = "alice"
    password: str = "s3cret"
    redirect_blobs: bool = False
    corrupt: set[str] = field(default_factory=set)  # blob digests served with wrong bytes
    gate: asyncio.Event | None = None  # blob GETs of `gated` digests wait for it
    gated: set[str] = field(default_factory=set)
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # "repo:ref" -> (body, type)
    requests: Counter[str] = field(default_factory=Counter)
    token_requests: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_image(self, repo: str, tag: str, image: BuiltImage) -> None:
        for digest, data in image.blobs().items():
            self.blobs[digest] = data
        self.add_manifest(repo, tag, image.manifest, OCI_MANIFEST)

    def add_manifest(self, repo: str, tag: str, body: bytes, media_type: str) -> None:
        from kubelet.images.blobs import digest_of

        self.manifests[f"{repo}:{tag}"] = (body, media_type)
        self.manifests[f"{repo}:{digest_of(body)}"] = (body, media_type)

    async def start(self) -> FakeRegistry:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if self.auth == "basic":
            return given == basic
        if self.auth == "bearer":
            return given == "Bearer tok-123"
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode()
            method, target, _ = line.split(" ", 2)
            headers: dict[str, str] = {}
            while (h := await reader.readline()) not in (b"\r\n", b""):
                k, _, v = h.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            if int(headers.get("content-length", "0")):
                await reader.readexactly(int(headers["content-length"]))
            status, extra, body = await self._route(method, target, headers)
            head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (ValueError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        path = url.path
        self.requests[f"{method} {path}"] += 1
        if path == "/token":
            q = parse_qs(url.query)
            self.token_requests.append(q.get("scope", [""])[0])
            basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if headers.get("authorization") != basic:
                return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": "tok-123", "expires_in": 300}).encode()
        if path.startswith("/storage/"):
            return 200, {}, self._blob_bytes(path.removeprefix("/storage/"))
        if not self._authorized(headers):
            challenge = {"basic": 'Basic realm="fake"',
                         "bearer": f'Bearer realm="http://{self.address}/token",service="fake",scope="x"'}[self.auth]
            return 401, {"WWW-Authenticate": challenge}, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        if path == "/v2/":
            return 200, {"Docker-Distribution-Api-Version": "registry/2.0"}, b"{}"
        if "/manifests/" in path:
            repo, ref = path.removeprefix("/v2/").split("/manifests/")
            found = self.manifests.get(f"{repo}:{ref}")
            if found is None or (found[1] == OCI_MANIFEST and OCI_MANIFEST not in headers.get("accept", "")):
                return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
            return 200, {"Content-Type": found[1]}, found[0]
        if "/blobs/" in path:
            digest = path.rsplit("/", 1)[1]
            if digest not in self.blobs:
                return 404, {}, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}'
            if self.gate is not None and digest in self.gated:
                await self.gate.wait()
            if self.redirect_blobs:
                return 307, {"Location": f"http://localhost:{self.port}/storage/{digest}"}, b""
            return 200, {}, self._blob_bytes(digest)
        return 404, {}, b""

    def _blob_bytes(self, digest: str) -> bytes:
        data = self.blobs[digest]
        if digest in self.corrupt:
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data
