"""Where a pod's ConfigMaps and Secrets come from, and their content as `RefData`.

Why a seam: the pod worker needs them on every sync (env, volumes, pull
secrets) and must not hammer the apiserver; the kubelet hands it its
per-object watches (`objectwatch.ObjectWatches`), tests may hand it the plain client.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from kubelet.envvars import RefData, config_map_data, referenced_objects, secret_data
from kubelet.projected import token_key, token_sources
from kubelet.tokens import TokenManager
from kubelite.api import ConfigMap, Pod, Secret
from kubelite.api.errors import NotFound
from kubelite.client import ApiClient


class ObjectSource(Protocol):
    """ConfigMaps and Secrets by namespace/name (None when absent), e.g. informer caches."""

    async def config_map(self, namespace: str, name: str) -> ConfigMap | None: ...

    async def secret(self, namespace: str, name: str) -> Secret | None: ...


class ClientObjects:
    """An ObjectSource that asks the apiserver every time (tests, fallback)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        try:
            return await self.client.get(ConfigMap, name, namespace)
        except NotFound:
            return None

    async def secret(self, namespace: str, name: str) -> Secret | None:
        try:
            return await self.client.get(Secret, name, namespace)
        except NotFound:
            return None


async def load_refs(pod: Pod, source: ObjectSource, tokens: TokenManager | None = None) -> RefData:
    """The ConfigMaps/Secrets the pod uses, as they are now (absent = not found), and (with a token
    manager) the ServiceAccount tokens its projected volumes show. A token that cannot be had raises
    the ApiError: the sync is retried, and the containers wait for their volume meanwhile."""
    cm_names, secret_names = referenced_objects(pod)
    token_data: dict[str, bytes] = {}
    if tokens is not None:
        for src in token_sources(pod):
            key = token_key(src.audience, src.expiration_seconds)
            if key not in token_data:
                token_data[key] = await tokens.token(pod, src.audience, src.expiration_seconds)
    if not cm_names and not secret_names:
        return RefData(tokens=token_data)
    ns = pod.metadata.namespace or "default"
    cms = {}
    for name in sorted(cm_names):
        cm = await source.config_map(ns, name)
        if cm is not None:
            cms[name] = config_map_data(cm)
    secrets = {}
    for name in sorted(secret_names):
        secret = await source.secret(ns, name)
        if secret is not None:
            secrets[name] = secret_data(secret)
    return RefData(config_maps=cms, secrets=secrets, tokens=token_data)


def refs_digest(refs: RefData) -> str:
    h = hashlib.sha256()
    for key in sorted(refs.tokens):
        h.update(b"token/" + key.encode() + b"\0" + refs.tokens[key] + b"\0")
    for kind, objs in (("cm", refs.config_maps), ("secret", refs.secrets)):
        for name in sorted(objs):
            h.update(f"{kind}/{name}\0".encode())
            for key in sorted(objs[name]):
                h.update(key.encode() + b"\0" + objs[name][key] + b"\0")
    return h.hexdigest()
