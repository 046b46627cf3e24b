"""A minimal client of the Kubernetes HTTPS API, for what happens before a component has an identity.

Why beside the gRPC client: kubelite's components speak gRPC with client
certificates, but a joining node has none yet -- it reads cluster-info
anonymously (without even trusting the server, then checks what it got) and
files its CSR with a bearer token. Kubernetes' HTTPS API accepts both, so
these few calls use it; everything else stays on gRPC. aiohttp is imported on the first
request: a kubelet imports this module but calls it only while bootstrapping or rotating
its certificates, and aiohttp is ~7 MB of a process that runs for the cluster's life.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

from kubelite.api.errors import ApiError


class HttpsClient:
    """JSON requests to `server` ("https://HOST:PORT").

    `ca_pem` None means: do not verify the server (only for reading cluster-info, whose content is then
    verified by its signature and the CA hash). `token` is sent as a bearer token; `cert_file`/`key_file`
    present a client certificate instead.
    """

    def __init__(self, server: str, ca_pem: bytes | None, *, token: str = "", cert_file: str = "",
                 key_file: str = "", timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        if ca_pem is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cadata=ca_pem.decode())
        if cert_file:
            context.load_cert_chain(cert_file, key_file or None)
        self.context = context
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON answer; an ApiError (Kubernetes' Status, or a 503 naming the server) otherwise."""
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.request(method, self.server + path, ssl=self.context, headers=self.headers,
                                           json=body) as resp:
                    text = await resp.text()
                    status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiError.from_status({"reason": "ServiceUnavailable", "code": 503,
                                        "message": f"cannot reach {self.server}: {exc}"}) from None
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if status >= 400 or not isinstance(data, dict):
            if isinstance(data, dict) and data.get("kind") == "Status":
                raise ApiError.from_status(data)
            raise ApiError.from_status({"reason": "InternalError", "code": status,
                                        "message": f"{method} {path}: HTTP {status}: {text[:200]}"})
        return data

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)
