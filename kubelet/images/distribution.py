"""Client for the OCI distribution API v2 (pull and push), as registries really behave.

Why these rules:
* Scheme: registries speak HTTPS, verified against the system CAs plus an
  optional CA file. A host explicitly marked insecure (the cluster-local
  registry, which `kubelite up` runs without TLS) is tried over HTTPS without
  verification and falls back to plain HTTP when the TLS handshake fails, like
  Docker does for `insecure-registries`.
* Auth: requests go out anonymously; a 401 carries a `WWW-Authenticate`
  challenge. `Basic` is answered with the pull secret's credentials; `Bearer`
  means: fetch a token from the named realm (with those credentials if any)
  for the scope, then retry with it. Tokens are cached per scope.
* Redirects: blob GETs may redirect to storage on another host; credentials
  are never forwarded to a different host.
* Manifests: the Accept header must list OCI types, or some registries answer
  404 for OCI images.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from kubelet.images.auth import RegistryAuth
from kubelet.images.blobs import digest_of
from kubelet.images.errors import RegistryError
from kubelet.images.http import HttpError, HttpResponse, request
from kubelet.images.manifest import ACCEPT, media_type_of

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
@dataclass
class RegistryOptions:
    """How to reach registries: which hosts may skip TLS verification, extra CA, timeouts.

    Shared by all clients of one ImageStore so the scheme found for an insecure
    host (https or http) is remembered instead of re-probed on every pull.
    """

    insecure: set[str] = field(default_factory=set)
    ca_file: Path | None = None
    timeout: float = 30.0
    schemes: dict[str, str] = field(default_factory=dict)
    _contexts: dict[str, ssl.SSLContext] = field(default_factory=dict, repr=False)

    def is_insecure(self, host: str) -> bool:
        return host in self.insecure

    def ssl_context(self, host: str) -> ssl.SSLContext:
        """Cached per kind: building a context loads the system CA bundle (tens of ms)."""
        key = "insecure" if self.is_insecure(host) else "verify"
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = ssl.create_default_context()
            if key == "insecure":
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif self.ca_file is not None:
                ctx.load_verify_locations(cafile=str(self.ca_file))
            self._contexts[key] = ctx
        return ctx


def _error_from(resp: HttpResponse, body: bytes, what: str) -> RegistryError:
    """Turn a registry error response into a RegistryError with the registry's own words."""
    code, message = f"HTTP_{resp.status}", f"{what}: HTTP {resp.status} {resp.reason}".rstrip()
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError, UnicodeDecodeError):
        errors = []
    if errors and isinstance(errors[0], dict):
        code = str(errors[0].get("code") or code)
        message = f"{what}: {str(errors[0].get('message') or code).rstrip('.')}"
    elif resp.status == 404:
        code, message = "NOT_FOUND", f"{what}: not found"
    if resp.status == 401:
        code = "UNAUTHORIZED"
    return RegistryError(code, message, resp.status)


class RegistryClient:
    """One registry host; methods take the repository path (`library/busybox`)."""

    def __init__(self, host: str, auth: RegistryAuth | None = None, options: RegistryOptions | None = None) -> None:
        self.host = host
        self.auth = auth
        self.options = options or RegistryOptions()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False  # the registry asked for Basic auth once: send it up front

    # ---- plumbing -------------------------------------------------------

    async def _connect(self, method: str, path: str, headers: dict[str, str],
                       body: bytes | Path | None) -> HttpResponse:
        """Send to this host, choosing https/http per the scheme rules above."""
        opts = self.options
        scheme = opts.schemes.get(self.host, "https")
        try:
            return await request(method, f"{scheme}://{self.host}{path}", headers=headers, body=body,
                                 ssl_context=opts.ssl_context(self.host), timeout=opts.timeout)
        except HttpError as exc:
            if scheme == "https" and opts.is_insecure(self.host) and exc.tls:
                opts.schemes[self.host] = "http"
                return await request(method, f"http://{self.host}{path}", headers=headers, body=body,
                                     timeout=opts.timeout)
            raise RegistryError("UNREACHABLE", f"cannot reach registry {self.host}: {_strip_url(exc)}") from None

    def _auth_header(self, scope: str) -> str | None:
        token = self._tokens.get(scope)
        if token and token[1] > time.monotonic():
            return f"Bearer {token[0]}"
        if self._basic and self.auth:
            return _basic(self.auth)
        return None

    async def _fetch_token(self, challenge: dict[str, str], scope: str) -> None:
        realm = challenge.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise RegistryError("UNAUTHORIZED", f"registry {self.host} sent a Bearer challenge without a realm", 401)
        params = {"service": challenge["service"]} if "service" in challenge else {}
        params["scope"] = challenge.get("scope") or scope
        url = realm + ("&" if "?" in realm else "?") + urlencode(params)
        headers = {"Authorization": _basic(self.auth)} if self.auth else {}
        realm_host = urlsplit(realm).netloc
        try:
            resp = await request("GET", url, headers=headers, ssl_context=self.options.ssl_context(realm_host),
                                 timeout=self.options.timeout)
            body = await resp.read(1 << 20)
        except HttpError as exc:
            raise RegistryError("UNREACHABLE", f"cannot reach token server of {self.host}: {_strip_url(exc)}") from None
        if resp.status != 200:
            raise RegistryError("UNAUTHORIZED", f"token server of {self.host} refused the credentials "
                                f"(HTTP {resp.status})", 401)
        try:
            doc = json.loads(body)
            token = str(doc.get("token") or doc.get("access_token"))
            ttl = float(doc.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise RegistryError("UNAUTHORIZED", f"token server of {self.host} sent an unreadable answer", 401) from None
        self._tokens[scope] = (token, time.monotonic() + max(ttl - 5, 1))

    async def _send(self, method: str, path: str, scope: str, *, headers: dict[str, str] | None = None,
                    body: bytes | Path | None = None, what: str = "") -> HttpResponse:
        """One API call with auth challenges and redirects handled; error statuses raise RegistryError."""
        retried_auth = False
        while True:
            hdrs = dict(headers or {})
            auth = self._auth_header(scope)
            if auth:
                hdrs["Authorization"] = auth
            resp = await self._connect(method, path, hdrs, body)
            if resp.status == 401 and not retried_auth:
                challenge_text = resp.header("www-authenticate")
                await _discard(resp)
                retried_auth = True
                kind, _, params = challenge_text.partition(" ")
                if kind.lower() == "bearer":
                    await self._fetch_token(dict(_CHALLENGE_PARAM.findall(params)), scope)
                    continue
                if kind.lower() == "basic" and self.auth is not None:
                    self._basic = True
                    continue
                raise RegistryError("UNAUTHORIZED", f"{what or path}: authentication required", 401)
            if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                return await self._follow(resp, method, headers or {}, scope, what or path)
            if resp.status >= 400:
                body_bytes = b"" if method == "HEAD" else await _safe_read(resp)
                resp.close()
                err = _error_from(resp, body_bytes, what or path)
                if resp.status == 401:
                    err = RegistryError("UNAUTHORIZED", f"{what or path}: unauthorized: "
                                        "authentication required or credentials rejected", 401)
                raise err
            return resp

    async def _follow(self, resp: HttpResponse, method: str, headers: dict[str, str], scope: str,
                      what: str) -> HttpResponse:
        """Follow redirects (blob storage); credentials only go back to the same host."""
        for _ in range(5):
            location = urljoin(resp.url, resp.header("location"))
            await _discard(resp)
            hdrs = dict(headers)
            if urlsplit(location).netloc == self.host:
                auth = self._auth_header(scope)
                if auth:
                    hdrs["Authorization"] = auth
            try:
                resp = await request(method, location, headers=hdrs,
                                     ssl_context=self.options.ssl_context(urlsplit(location).netloc),
                                     timeout=self.options.timeout)
            except HttpError as exc:
                raise RegistryError("UNREACHABLE", f"{what}: redirect failed: {_strip_url(exc)}") from None
            if resp.status not in (301, 302, 303, 307, 308):
                if resp.status >= 400:
                    body = await _safe_read(resp)
                    raise _error_from(resp, body, what)
                return resp
        raise RegistryError("HTTP_310", f"{what}: too many redirects")

    # ---- pull -----------------------------------------------------------

    async def ping(self) -> bool:
        """True when a v2 registry answers at this host (401 counts: it is there)."""
        try:
            resp = await self._connect("GET", "/v2/", {}, None)
        except RegistryError:
            return False
        await _discard(resp)
        return resp.status in (200, 401)

    async def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest or index; by-digest answers are verified."""
        what = f"{self.host}/{repository}:{reference}" if ":" not in reference else f"{self.host}/{repository}@{reference}"
        resp = await self._send("GET", f"/v2/{repository}/manifests/{reference}", _pull_scope(repository),
                                headers={"Accept": ACCEPT}, what=what)
        body = await resp.read(4 << 20)
        digest = digest_of(body)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError("DIGEST_INVALID", f"{what}: registry sent a manifest whose digest is {digest}")
        return body, media_type_of(body, resp.header("content-type")), digest

    async def fetch_blob(self, repository: str, digest: str, sink: Callable[[bytes], None]) -> int:
        """Stream a blob into `sink`; the caller verifies the digest. Returns the byte count."""
        resp = await self._send("GET", f"/v2/{repository}/blobs/{digest}", _pull_scope(repository),
                                what=f"{self.host}/{repository}@{digest}")
        total = 0
        async for piece in resp.iter_body():
            sink(piece)
            total += len(piece)
        return total

    # ---- push -----------------------------------------------------------

    async def blob_exists(self, repository: str, digest: str) -> bool:
        try:
            resp = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}", _push_scope(repository))
        except RegistryError as exc:
            if exc.status == 404:
                return False
            raise
        resp.close()
        return True

    async def push_blob(self, repository: str, digest: str, source: Path | bytes) -> None:
        """Monolithic upload: POST to open an upload session, PUT the bytes with the digest."""
        if await self.blob_exists(repository, digest):
            return
        scope = _push_scope(repository)
        what = f"upload of {digest} to {self.host}/{repository}"
        resp = await self._send("POST", f"/v2/{repository}/blobs/uploads/", scope, body=b"", what=what)
        location = resp.header("location")
        await _discard(resp)
        if not location:
            raise RegistryError("BLOB_UPLOAD_INVALID", f"{what}: registry gave no upload location")
        split = urlsplit(urljoin(f"http://{self.host}/", location))
        path = split.path + "?" + (split.query + "&" if split.query else "") + urlencode({"digest": digest})
        resp = await self._send("PUT", path, scope, body=source, what=what,
                                headers={"Content-Type": "application/octet-stream"})
        await _discard(resp)

    async def push_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        resp = await self._send("PUT", f"/v2/{repository}/manifests/{reference}", _push_scope(repository),
                                body=data, headers={"Content-Type": media_type},
                                what=f"push of manifest {self.host}/{repository}:{reference}")
        await _discard(resp)
        return digest_of(data)


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _basic(auth: RegistryAuth | None) -> str:
    assert auth is not None
    return "Basic " + base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()


def _strip_url(exc: HttpError) -> str:
    """`http://h/v2/x: Connection refused` -> `Connection refused` (the host is already named)."""
    text = str(exc)
    if text.startswith(("http://", "https://")) and ": " in text:
        return text.split(": ", 1)[1]
    return text


async def _discard(resp: HttpResponse) -> None:
    try:
        await resp.read(1 << 20)
    except HttpError:
        pass
    resp.close()


async def _safe_read(resp: HttpResponse) -> bytes:
    try:
        return await resp.read(1 << 20)
    except HttpError:
        return b""
