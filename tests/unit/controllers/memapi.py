"""An in-memory apiserver for reconcile tests of the workload controllers.

The controllers talk to it through the real `ApiClient` (LocalTransport), and
it delivers every write straight into the informers of an `InformerFactory`
that is never started: a test seeds objects, calls `await ctrl.reconcile(key)`
and looks at what is stored. `hold()` keeps events back (a lagging cache) until
`flush()`. Pods bound to a node are deleted gracefully (deletionTimestamp set)
when `graceful_pods` is on; `finish_delete` plays the kubelet.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from controllers.informers import InformerFactory
from kubelite.api import Pod, PodCondition, Resource, registry
from kubelite.api.errors import AlreadyExists, Conflict, NotFound
from kubelite.api.selectors import parse_label_selector
from kubelite.client import ApiClient, EventRecorder, LocalTransport, ResourceHandler
from kubelite.pb.kubelite import api_pb2

T = TypeVar("T", bound=Resource)
Key = tuple[str, str, str]


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class MemoryApi:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.objects: dict[Key, dict[str, Any]] = {}
        self.revision = 1
        self.graceful_pods = False
        self.held = False
        self.pending: list[tuple[str, str, dict[str, Any]]] = []
        self.factory: InformerFactory | None = None
        self.calls: list[tuple[str, str, str]] = []  # (method, resource, name)
        self.client = ApiClient(LocalTransport(cast(ResourceHandler, self)))
        self._names = 0

    # ------------------------------------------------------------------ test controls

    def attach(self, factory: InformerFactory) -> None:
        self.factory = factory
        for inf in factory.informers():
            inf._synced.set()

    def hold(self) -> None:
        self.held = True

    def flush(self) -> None:
        self.held = False
        pending, self.pending = self.pending, []
        for resource, type_, obj in pending:
            self._deliver(resource, type_, obj)

    def _deliver(self, resource: str, type_: str, obj: dict[str, Any]) -> None:
        if self.factory is None:
            return
        for inf in self.factory.informers():
            if registry.for_model(inf.cls).resource != resource:
                continue
            model = inf.cls.from_dict(copy.deepcopy(obj))
            if type_ == "DELETED":
                inf._delete(model)
            else:
                inf._upsert(model)

    def _event(self, resource: str, type_: str, obj: dict[str, Any]) -> None:
        self.pending.append((resource, type_, copy.deepcopy(obj)))
        if not self.held:
            self.flush()

    def _bump(self, obj: dict[str, Any]) -> None:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)

    def stored(self, cls: type[T], namespace: str = "default") -> list[T]:
        resource = registry.for_model(cls).resource
        ns = namespace if registry.for_model(cls).namespaced else ""
        return [cls.from_dict(copy.deepcopy(o)) for (r, n, _), o in sorted(self.objects.items())
                if r == resource and n == ns]

    def get(self, cls: type[T], name: str, namespace: str = "default") -> T | None:
        info = registry.for_model(cls)
        obj = self.objects.get((info.resource, namespace if info.namespaced else "", name))
        return None if obj is None else cls.from_dict(copy.deepcopy(obj))

    def put(self, obj: Resource) -> None:
        """Store `obj` as given, as if it had been there all along (over an existing one: an update)."""
        info = registry.for_model(type(obj))
        d = obj.to_dict()
        meta = d.setdefault("metadata", {})
        ns = (meta.get("namespace") or "default") if info.namespaced else ""
        if info.namespaced:
            meta["namespace"] = ns
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("creationTimestamp", _fmt(self.clock()))
        meta.setdefault("generation", 1)
        key = (info.resource, ns, meta["name"])
        type_ = "MODIFIED" if key in self.objects else "ADDED"
        previous = self.objects.get(key)
        if previous is not None:  # like an Update: status kept unless given, generation follows the spec
            if not d.get("status") and previous.get("status"):
                d["status"] = copy.deepcopy(previous["status"])
            meta["uid"] = previous["metadata"]["uid"]
            generation = previous["metadata"].get("generation", 1)
            meta["generation"] = generation + (d.get("spec") != previous.get("spec"))
        self._bump(d)
        self.objects[key] = d
        self._event(info.resource, type_, d)

    def mutate(self, cls: type[T], name: str, fn: Callable[[T], None], namespace: str = "default") -> None:
        current = self.get(cls, name, namespace)
        assert current is not None, f"{cls.__name__} {name} not stored"
        fn(current)
        self.put(current)

    def finish_delete(self, cls: type[Resource], name: str, namespace: str = "default") -> None:
        info = registry.for_model(cls)
        obj = self.objects.pop((info.resource, namespace if info.namespaced else "", name))
        self._event(info.resource, "DELETED", obj)

    # ------------------------------------------------------------------ handler

    def _key(self, resource: str, namespace: str, name: str) -> Key:
        info = registry.lookup(resource)
        return (info.resource, (namespace or "default") if info.namespaced else "", name)

    @staticmethod
    def _reply(obj: dict[str, Any] | None) -> api_pb2.Object:
        return api_pb2.Object(json=json.dumps(obj).encode() if obj is not None else b"")

    async def Create(self, request: api_pb2.CreateRequest) -> api_pb2.Object:
        obj = json.loads(request.json)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            self._names += 1
            meta["name"] = f"{meta.get('generateName', 'x-')}{self._names:05d}"
        self.calls.append(("Create", request.resource, meta["name"]))
        key = self._key(request.resource, request.namespace, meta["name"])
        if key in self.objects:
            raise AlreadyExists(f'{request.resource} "{meta["name"]}" already exists')
        if key[1]:
            meta["namespace"] = key[1]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _fmt(self.clock())
        meta["generation"] = 1
        if request.resource == "pods":
            obj.setdefault("status", {})["phase"] = "Pending"
        self._bump(obj)
        self.objects[key] = obj
        self._event(key[0], "ADDED", obj)
        return self._reply(obj)

    async def Get(self, request: api_pb2.GetRequest) -> api_pb2.Object:
        obj = self.objects.get(self._key(request.resource, request.namespace, request.name))
        if obj is None:
            raise NotFound(f'{request.resource} "{request.name}" not found')
        return self._reply(obj)

    async def List(self, request: api_pb2.ListRequest) -> api_pb2.ListResponse:
        info = registry.lookup(request.resource)
        matcher = parse_label_selector(request.label_selector)
        items = [json.dumps(o).encode() for (r, ns, _), o in sorted(self.objects.items())
                 if r == info.resource and (not request.namespace or ns == request.namespace)
                 and matcher.matches(o["metadata"].get("labels", {}))]
        return api_pb2.ListResponse(items=items, resource_version=str(self.revision))

    async def _update(self, request: api_pb2.UpdateRequest, status: bool) -> api_pb2.Object:
        key = self._key(request.resource, request.namespace, request.name)
        self.calls.append(("UpdateStatus" if status else "Update", request.resource, request.name))
        current = self.objects.get(key)
        if current is None:
            raise NotFound(f'{request.resource} "{request.name}" not found')
        new = json.loads(request.json)
        rv = new.get("metadata", {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {request.resource} "{request.name}"')
        if status:
            merged = {**current, "status": new.get("status", {})}
        else:
            merged = {k: v for k, v in new.items() if k != "status"}
            if "status" in current or "status" in new:  # kinds without status (ConfigMap) get none
                merged["status"] = current.get("status", {})
            meta = dict(new["metadata"])
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
                if k in current["metadata"]:
                    meta[k] = current["metadata"][k]
            merged["metadata"] = meta
            if merged["metadata"].get("deletionTimestamp") and not merged["metadata"].get("finalizers") and \
                    request.resource != "pods":
                self.objects.pop(key)
                self._event(key[0], "DELETED", merged)
                return self._reply(merged)
        self._bump(merged)
        self.objects[key] = merged
        self._event(key[0], "MODIFIED", merged)
        return self._reply(merged)

    async def Update(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        return await self._update(request, status=False)

    async def UpdateStatus(self, request: api_pb2.UpdateRequest) -> api_pb2.Object:
        return await self._update(request, status=True)

    async def Delete(self, request: api_pb2.DeleteRequest) -> api_pb2.Object:
        key = self._key(request.resource, request.namespace, request.name)
        self.calls.append(("Delete", request.resource, request.name))
        obj = self.objects.get(key)
        if obj is None:
            raise NotFound(f'{request.resource} "{request.name}" not found')
        if request.precondition_uid and request.precondition_uid != obj["metadata"]["uid"]:
            raise Conflict("Precondition failed: UID")
        bound = obj.get("spec", {}).get("nodeName") and obj.get("status", {}).get("phase") not in (
            "Succeeded", "Failed")
        if self.graceful_pods and key[0] == "pods" and bound:
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = _fmt(self.clock())
                self._bump(obj)
                self._event(key[0], "MODIFIED", obj)
            return self._reply(obj)
        del self.objects[key]
        self._event(key[0], "DELETED", obj)
        return self._reply(obj)

    async def Bind(self, request: api_pb2.BindRequest) -> api_pb2.Object:
        raise NotImplementedError

    def Watch(self, request: api_pb2.WatchRequest) -> AsyncIterator[api_pb2.WatchEvent]:
        raise NotImplementedError

    def Logs(self, request: api_pb2.LogsRequest) -> AsyncIterator[api_pb2.LogChunk]:
        raise NotImplementedError


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


class RecordingRecorder(EventRecorder):
    """Keeps events in a list instead of writing them (no background task)."""

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, "test")
        self.events: list[tuple[str, str, str, str]] = []  # (object name, type, reason, message)

    def event(self, obj: Resource, type_: str, reason: str, message: str) -> None:
        self.events.append((obj.metadata.name or "", type_, reason, message))

    def reasons(self) -> list[str]:
        return [e[2] for e in self.events]


def set_phase(pod: Pod, phase: str, ready: bool = False, at: datetime | None = None) -> None:
    """Play kubelet: phase plus the Ready condition."""
    pod.status.phase = phase
    cond: dict[str, Any] = {"type": "Ready", "status": "True" if ready else "False"}
    if at is not None:
        cond["lastTransitionTime"] = _fmt(at)
    pod.status.conditions = [PodCondition.from_dict(cond)]
