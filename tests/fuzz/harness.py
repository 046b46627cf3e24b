"""The fuzz target: one kvstore + apiserver (gRPC and HTTPS) for the whole session, and the
checks every fuzz test makes after each request.

Why one server for the session: starting a control plane takes seconds, and the
fuzz budget (~2 minutes in CI) is better spent on examples. Each example uses
fresh object names, and objects a mutation got created are deleted again, so
examples do not see each other's objects (quota and limit objects live in their
own namespace, so they never refuse another example's pods).
"""

from __future__ import annotations

import itertools
import json
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import seed as hypothesis_seed

from kubelite.api import registry
from kubelite.api.errors import ApiError, NotFound
from kubelite.pb.kubelite import api_pb2
from tests.integration.controlplane import ControlPlane

SEED = int(os.environ.get("KUBELITE_FUZZ_SEED", "20261206"))
"""The Hypothesis seed of every fuzz test: a failure replays with KUBELITE_FUZZ_SEED=<seed>."""
SCALE = float(os.environ.get("KUBELITE_FUZZ_SCALE", "1"))
"""Multiplies every test's example count (CI: 1, about two minutes in all; a long local run: 10)."""

NAMESPACE = "fuzz"
POLICY_NAMESPACE = "fuzz-policy"  # ResourceQuota/LimitRange examples: they must not refuse other pods
_names = itertools.count()


def fuzz(max_examples: int) -> Any:
    """Hypothesis settings of a fuzz test: a fixed example budget, no deadline (the server runs
    on a shared, loaded machine), no example database (nothing written to the repo), a seed."""
    def wrap(test: Any) -> Any:
        configured = settings(max_examples=max(1, int(max_examples * SCALE)), deadline=None, database=None,
                              suppress_health_check=list(HealthCheck), print_blob=True,
                              phases=[Phase.explicit, Phase.generate, Phase.shrink])(test)
        return hypothesis_seed(SEED)(configured)
    return wrap


def fresh_name() -> str:
    return f"fz-{next(_names)}"


def namespace_for(kind: str) -> str:
    info = registry.lookup(kind)
    if not info.namespaced:
        return ""
    return POLICY_NAMESPACE if kind in ("ResourceQuota", "LimitRange") else NAMESPACE


def client_fault(code: int, reason: str, what: str) -> None:
    """The property every answer to bad input must have: a client error, never a server error."""
    note(f"replay with KUBELITE_FUZZ_SEED={SEED}")
    assert code < 500 and reason != "InternalError", f"{what}: answered {code} {reason}"


def user_view(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an update writes: the object without its status and the metadata a status write
    touches (CRDs and Namespaces get status from the apiserver itself, at any moment)."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in obj.get("metadata", {}).items()
                       if k not in ("resourceVersion", "managedFields")}
    return out


@dataclass
class Target:
    plane: ControlPlane
    http_url: str
    ssl_context: ssl.SSLContext
    session: aiohttp.ClientSession
    created: list[tuple[str, str, str]] = field(default_factory=list)

    # ---- gRPC ------------------------------------------------------------------------------------

    async def grpc(self, method: str, request: Any) -> tuple[int, str, dict[str, Any] | None]:
        """(code, reason, object) of one raw call: 200 and the object, or the error's code and reason."""
        try:
            response = await self.plane.client.transport.unary(method, request)
        except ApiError as err:
            return err.code, err.reason, None
        raw = getattr(response, "json", b"")
        return 200, "", json.loads(raw) if raw else None

    async def grpc_create(self, kind: str, body: bytes, namespace: str) -> tuple[int, str, dict[str, Any] | None]:
        info = registry.lookup(kind)
        return await self.grpc("Create", api_pb2.CreateRequest(resource=info.resource, namespace=namespace, json=body))

    async def grpc_update(self, kind: str, name: str, body: bytes,
                          namespace: str) -> tuple[int, str, dict[str, Any] | None]:
        info = registry.lookup(kind)
        return await self.grpc("Update", api_pb2.UpdateRequest(resource=info.resource, namespace=namespace,
                                                               name=name, json=body))

    async def stored(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            return await self.plane.client.get_raw(registry.lookup(kind).resource, name, namespace or None)
        except NotFound:
            return None

    async def names(self, kind: str, namespace: str) -> set[str]:
        """The names stored (objects deleted earlier may still be going: compare what is new)."""
        listed = await self.plane.client.list_raw(registry.lookup(kind).resource, namespace or None)
        return {item["metadata"]["name"] for item in listed["items"]}

    async def cleanup(self, kind: str, name: str, namespace: str) -> None:
        """Delete what an example created (pods at once: no kubelet runs here)."""
        try:
            await self.plane.client.delete_raw(registry.lookup(kind).resource, name, namespace or None,
                                               grace_period_seconds=0)
        except NotFound:
            pass

    # ---- HTTPS -----------------------------------------------------------------------------------

    def path(self, kind: str, namespace: str, name: str = "") -> str:
        info = registry.lookup(kind)
        base = f"/api/{info.api_version}" if not info.group else f"/apis/{info.api_version}"
        scope = f"/namespaces/{namespace}" if info.namespaced else ""
        return f"{base}{scope}/{info.resource}" + (f"/{name}" if name else "")

    async def http(self, method: str, path: str, body: bytes | None = None,
                   content_type: str = "application/json") -> tuple[int, str, Any]:
        """(status, reason, decoded body) of one HTTPS request."""
        headers = {"Content-Type": content_type} if content_type else {}
        async with self.session.request(method, f"{self.http_url}{path}", data=body, headers=headers,
                                        ssl=self.ssl_context) as resp:
            text = await resp.read()
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = text
        reason = decoded.get("reason", "") if isinstance(decoded, dict) else ""
        return resp.status, str(reason), decoded

    async def healthy(self) -> None:
        """Both APIs still answer: the server did not crash or wedge on what came before."""
        status, _, text = await self.http("GET", "/healthz", content_type="")
        assert status == 200, f"/healthz answered {status}: {text!r}"
        await self.plane.client.list_raw("namespaces")
