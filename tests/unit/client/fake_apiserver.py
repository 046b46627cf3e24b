"""An in-memory `ResourceHandler` for client tests.

It behaves like the apiserver where the client depends on it: one global
revision, resourceVersion = revision of the last write, compare-and-swap
updates, an event log that watches replay from a revision, `Expired` for
revisions that were compacted away, BOOKMARKs on demand, and the ability to
drop every open watch or refuse new ones (an apiserver going away).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.errors import AlreadyExists, Conflict, Expired, NotFound, ServiceUnavailable
from kubelite.pb.kubelite import api_pb2


@dataclass
class _LogEntry:
    revision: int
    resource: str
    type: str
    obj: dict[str, Any]


def _labels_match(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        else:
            k, v = term.split("=", 1)
            if labels.get(k) != v:
                return False
    return True


@dataclass
class FakeApiServer:
    revision: int = 1
    compacted: int = 0  # watches from a revision below this are Expired
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    log: list[_LogEntry] = field(default_factory=list)
    down: bool = False  # new Watch calls fail with ServiceUnavailable
    watch_requests: list[api_pb2.WatchRequest] = field(default_factory=list)
    active_watches: int = 0
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._generation = 0  # bumped by drop_watches()
        self._bookmarks: list[tuple[str, int]] = []

    # ------------------------------------------------------------ test controls

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def drop_watches(self) -> None:
        """End every open watch stream (as if the apiserver restarted)."""
        self._generation += 1
        await self._notify()

    def compact(self) -> None:
        """Forget the whole event log: any watch from an older revision is Expired."""
        self.compacted = self.revision + 1
        self.log.clear()

    async def bookmark(self, resource: str) -> None:
        """Send a BOOKMARK at the current revision to watchers of `resource`."""
        self._bookmarks.append((resource, self.revision))
        await self._notify()

    def stored(self, resource: str) -> list[dict[str, Any]]:
        return [o for (r, _, _), o in sorted(self.objects.items()) if r == resource]

    # --------------------------------------------------------------- internals

    async def _write(self, resource: str, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.log.append(_LogEntry(self.revision, resource, type_, json.loads(json.dumps(obj))))
        await self._notify()
        return obj

    @staticmethod
    def _reply(obj: dict[str, Any] | None) -> api_pb2.Object:
        return api_pb2.Object(json=json.dumps(obj).encode() if obj is not None else b"")

    def _existing(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((resource, namespace, name))
        if obj is None:
            raise NotFound(f'{resource} "{name}" not found')
        return obj

    # ----------------------------------------------------------------- handler

    async def Create(self, request: api_pb2.CreateRequest) -> api_pb2.Object:
        self.calls.append("Create")
        obj = json.loads(request.json)
        meta = obj.setdefault("metadata", {})
        key = (request.resource, request.namespace, meta["name"])
        if key in self.objects:
            raise AlreadyExists(f'{request.resource} "{meta["name"]}" already exists')
        meta["uid"] = str(uuid.uuid4())
        if request.namespace:
            meta["namespace"] = request.namespace
        self.objects[key] = obj
        return self._reply(await self._write(request.resource, "ADDED", obj))

    async def Get(self, request: api_pb2.GetRequest) -> api_pb2.Object:
        self.calls.append("Get")
        return self._reply(self._existing(request.resource, request.namespace, request.name))

    async def List(self, request: api_pb2.ListRequest) -> api_pb2.ListResponse:
        self.calls.append("List")
        items = [
            json.dumps(o).encode()
            for (r, ns, _), o in sorted(self.objects.items())
            if r == request.resource
            and (not request.namespace or ns == request.namespace)
            and _labels_match(request.label_selector, o["metadata"].get("labels", {}))
        ]
        return api_pb2.ListResponse(items=items, resource_version=str(self.revision))

    async def _update(self, request: api_pb2.UpdateRequest, status: bool) -> api_pb2.Object:
        current = self._existing(request.resource, request.namespace, request.name)
        new = json.loads(request.json)
        rv = new.get("metadata", {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {request.resource} "{request.name}"')
        if status:
            merged = {**current, "status": new.get("status", {})}
        else:
            merged = {**new, "status": current.get("status", {})} if "status" in current else dict(new)
            merged["metadata"] = {**new["metadata"], "uid": current["metadata"]["uid"]}
        self.objects[(request.resource, request.namespace, request.name)] = merged
        return self._reply(await self._write(request.resource, "MODIFIED", merged))

    async def Update(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        self.calls.append("Update")
        return await self._update(request, status=False)

    async def UpdateStatus(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        self.calls.append("UpdateStatus")
        return await self._update(request, status=True)

    async def Delete(self, request: api_pb2.DeleteRequest) -> api_pb2.Object:
        self.calls.append("Delete")
        obj = self._existing(request.resource, request.namespace, request.name)
        del self.objects[(request.resource, request.namespace, request.name)]
        return self._reply(await self._write(request.resource, "DELETED", obj))

    async def Bind(self, request: api_pb2.BindRequest) -> api_pb2.Object:
        self.calls.append("Bind")
        obj = self._existing("pods", request.namespace, request.name)
        obj.setdefault("spec", {})["nodeName"] = request.node_name
        await self._write("pods", "MODIFIED", obj)
        return self._reply({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})

    async def Watch(self, request: api_pb2.WatchRequest) -> AsyncIterator[api_pb2.WatchEvent]:
        self.calls.append("Watch")
        self.watch_requests.append(request)
        if self.down:
            raise ServiceUnavailable("apiserver is down")
        self.active_watches += 1
        try:
            generation = self._generation

            def visible(resource: str, obj: dict[str, Any]) -> bool:
                ns = obj["metadata"].get("namespace", "")
                return (
                    resource == request.resource
                    and (not request.namespace or ns == request.namespace)
                    and _labels_match(request.label_selector, obj["metadata"].get("labels", {}))
                )

            sent_bookmarks = len(self._bookmarks)
            if request.resource_version in ("", "0"):
                for obj in self.stored(request.resource):
                    if visible(request.resource, obj):
                        yield api_pb2.WatchEvent(type="ADDED", object=json.dumps(obj).encode())
                since = self.revision
            else:
                since = int(request.resource_version)
                if since < self.compacted:
                    raise Expired(f"too old resource version: {since} ({self.compacted})")
            while True:
                for entry in [e for e in self.log if e.revision > since]:
                    since = entry.revision
                    if visible(entry.resource, entry.obj):
                        yield api_pb2.WatchEvent(type=entry.type, object=json.dumps(entry.obj).encode())
                for resource, rev in self._bookmarks[sent_bookmarks:]:
                    if resource == request.resource and request.allow_bookmarks and rev >= since:
                        meta = {"metadata": {"resourceVersion": str(rev)}}
                        yield api_pb2.WatchEvent(type="BOOKMARK", object=json.dumps(meta).encode())
                sent_bookmarks = len(self._bookmarks)
                if generation != self._generation:
                    return
                async with self._changed:
                    if generation == self._generation and not any(e.revision > since for e in self.log) and (
                        sent_bookmarks == len(self._bookmarks)
                    ):
                        await self._changed.wait()
        finally:
            self.active_watches -= 1

    async def Logs(self, request: api_pb2.LogsRequest) -> AsyncIterator[api_pb2.LogChunk]:
        self.calls.append("Logs")
        for i in range(3):
            yield api_pb2.LogChunk(data=f"{request.name} line {i}\n".encode())
