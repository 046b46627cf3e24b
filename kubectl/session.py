"""One kctl invocation's view of the cluster: the client, the server address, the namespace.

Why a thin wrapper over `ApiClient`'s raw (dict) calls: kctl works on whatever
JSON the server sends (it prints it back), takes kinds as `KindInfo`, and every
command needs the same namespace rule (cluster-scoped kinds never carry one).
"""

from __future__ import annotations

import copy
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any

from kubelite.api.errors import BadRequest
from kubelite.api.registry import KindInfo
from kubelite.client.api_client import ApiClient
from kubelite.client.retry import retry_on_conflict

Obj = dict[str, Any]


@dataclass
class Session:
    client: ApiClient
    server: str
    namespace: str
    explicit_namespace: bool = False

    def ns(self, info: KindInfo, namespace: str | None = None) -> str:
        """The namespace of one object of this kind ("" for cluster-scoped kinds)."""
        if not info.namespaced:
            return ""
        return namespace or self.namespace

    def scope(self, info: KindInfo, all_namespaces: bool) -> str | None:
        """The namespace to list/watch in; None = all namespaces."""
        if not info.namespaced or all_namespaces:
            return None
        return self.namespace

    async def get(self, info: KindInfo, name: str, namespace: str | None = None) -> Obj:
        obj = await self.client.get_raw(info.resource, name, self.ns(info, namespace))
        return with_type(info, obj)

    async def list(self, info: KindInfo, namespace: str | None, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Obj], str]:
        """All matching objects (following `continue` tokens) and the list's resourceVersion."""
        items: list[Obj] = []
        token = ""
        with _kept_for_the_process():
            while True:
                answer = await self.client.list_raw(info.resource, namespace, label_selector, field_selector,
                                                    limit=0, continue_=token)
                items.extend(with_type(info, o) for o in answer.get("items", []) if isinstance(o, dict))
                meta = answer.get("metadata") or {}
                token = str(meta.get("continue") or "")
                if not token:
                    return items, str(meta.get("resourceVersion") or "")

    async def create(self, info: KindInfo, body: Obj) -> Obj:
        namespace = self.ns(info, (body.get("metadata") or {}).get("namespace"))
        return with_type(info, await self.client.create_raw(info.resource, body, namespace or None))

    async def update(self, info: KindInfo, body: Obj) -> Obj:
        namespace = self.ns(info, (body.get("metadata") or {}).get("namespace"))
        return with_type(info, await self.client.update_raw(info.resource, body, namespace or None))

    async def edit(self, info: KindInfo, name: str, change: Callable[[Obj], bool], attempts: int = 10) -> bool:
        """Read-modify-write with optimistic concurrency: re-read and re-apply `change` on Conflict.

        `change` edits the object in place and returns False when there is nothing to
        write (the object already says what the user asked for).
        """
        async def attempt() -> bool:
            obj = await self.get(info, name)
            if not change(obj):
                return False
            await self.update(info, obj)
            return True

        return await retry_on_conflict(attempt, attempts, what=f"{info.resource} {name!r}")

    async def patch(self, info: KindInfo, name: str, patch: Callable[[Obj], Obj], *,
                    dry_run: bool = False, attempts: int = 10) -> tuple[Obj, bool]:
        """Apply `patch` to a fresh read and write the result back; (object, whether it changed).

        The write carries the read's resourceVersion, so a concurrent writer makes it
        Conflict and the patch is re-applied to the new state, as the server's PATCH does.
        An unchanged result is not written (kubectl then says `(no change)`).
        """
        async def attempt() -> tuple[Obj, bool]:
            current = await self.get(info, name)
            patched = patch(copy.deepcopy(current))
            if not isinstance(patched, dict):
                raise BadRequest("the patched object is not a JSON object")
            if patched == current:
                return current, False
            namespace = self.ns(info, (current.get("metadata") or {}).get("namespace"))
            written = await self.client.update_raw(info.resource, patched, namespace or None, dry_run=dry_run)
            return with_type(info, written), True

        return await retry_on_conflict(attempt, attempts, what=f"{info.resource} {name!r}")

    async def delete(self, info: KindInfo, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None) -> Obj | None:
        return await self.client.delete_raw(info.resource, name, self.ns(info, namespace) or None,
                                            grace_period_seconds=grace_period_seconds,
                                            propagation_policy=propagation_policy)

    async def watch(self, info: KindInfo, namespace: str | None, resource_version: str,
                    label_selector: str = "", field_selector: str = "") -> AsyncIterator[tuple[str, Obj]]:
        events = self.client.watch_raw(info.resource, namespace, resource_version, label_selector, field_selector)
        async with aclosing(events) as stream:
            async for ev in stream:
                if ev.type == "BOOKMARK":
                    continue
                yield ev.type, with_type(info, ev.object)


@contextmanager
def _kept_for_the_process() -> Iterator[None]:
    """No cyclic collection while a List is fetched, and what it built frozen afterwards.

    Why: the list is a kctl process's working set until it prints and exits, and decoded JSON
    holds no cycles. Otherwise the collector walks its dozens of containers per item once per
    generation it passes through (young, middle, old): ~0.2-0.4 s of `kctl get pods -A` on
    10,000 pods (bench/README.md). Freezing before the collector is back on leaves nothing
    pending. Frozen objects are still freed by reference counting; only collections skip them.
    Other tasks run during the block's awaits without collections, fine for one command.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def with_type(info: KindInfo, obj: Obj) -> Obj:
    """Objects in lists may lack apiVersion/kind; printed output always has them (first)."""
    if obj.get("apiVersion") and obj.get("kind"):
        return obj
    return {"apiVersion": info.api_version, "kind": info.kind,
            **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}
