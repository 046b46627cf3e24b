"""ApiClient: namespace rules, typed and raw calls, bookmarks, update_with_retry,
and LocalTransport's error surface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
from google.protobuf.message import Message

from kubelite.api import ConfigMap, Namespace, Node, ObjectMeta, Pod
from kubelite.api.errors import Conflict, InternalError, NotFound
from kubelite.client import ApiClient, LocalTransport, WatchEvent
from kubelite.client.api_client import bookmark_object
from kubelite.pb.kubelite import api_pb2
from tests.unit.client.fake_apiserver import FakeApiServer


class SpyTransport(LocalTransport):
    """LocalTransport that remembers every request it sent."""

    def __init__(self, handler: FakeApiServer):
        super().__init__(handler)
        self.sent: list[tuple[str, Message]] = []

    async def unary(self, method: str, request: Message) -> Message:
        self.sent.append((method, request))
        return await super().unary(method, request)


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeApiServer, SpyTransport, ApiClient]]:
    server = FakeApiServer()
    transport = SpyTransport(server)
    client = ApiClient(transport)
    yield server, transport, client
    await client.close()


def last(transport: SpyTransport) -> Message:
    return transport.sent[-1][1]


async def test_namespace_rules(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, spy, client = env
    created = await client.create(Pod(metadata=ObjectMeta(name="a")))
    assert created.metadata.namespace == "default"
    req = last(spy)
    assert isinstance(req, api_pb2.CreateRequest) and (req.resource, req.namespace) == ("pods", "default")

    await client.create(Node(metadata=ObjectMeta(name="n1")))
    req = last(spy)
    assert isinstance(req, api_pb2.CreateRequest) and (req.resource, req.namespace) == ("nodes", "")
    await client.get(Node, "n1")  # the "default" namespace argument is ignored for cluster-scoped kinds
    req = last(spy)
    assert isinstance(req, api_pb2.GetRequest) and req.namespace == ""

    await client.create(Pod(metadata=ObjectMeta(name="b", namespace="prod")))
    assert len((await client.list(Pod)).items) == 2  # None = all namespaces
    req = last(spy)
    assert isinstance(req, api_pb2.ListRequest) and req.namespace == ""
    assert [p.metadata.name for p in (await client.list(Pod, namespace="prod")).items] == ["b"]
    await client.get(Pod, "a", namespace="")  # empty means default for one object
    req = last(spy)
    assert isinstance(req, api_pb2.GetRequest) and req.namespace == "default"


async def test_list_carries_version_and_paging_fields(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, spy, client = env
    await client.create(Pod(metadata=ObjectMeta(name="a", labels={"app": "web"})))
    await client.create(Pod(metadata=ObjectMeta(name="b", labels={"app": "db"})))
    result = await client.list(Pod, label_selector="app=web", field_selector="spec.nodeName=", limit=10, continue_="tok")
    assert [p.metadata.name for p in result.items] == ["a"]
    assert result.resource_version == "3" and result.continue_ == ""
    req = last(spy)
    assert isinstance(req, api_pb2.ListRequest)
    assert (req.label_selector, req.field_selector, req.limit, getattr(req, "continue")) == (
        "app=web",
        "spec.nodeName=",
        10,
        "tok",
    )


async def test_raw_calls_resolve_aliases_and_work_on_dicts(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, spy, client = env
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"k": "v"}}
    created = await client.create_raw("cm", cm)
    assert created["metadata"]["namespace"] == "default" and created["data"] == {"k": "v"}
    assert "namespace" not in cm["metadata"]  # the caller's dict is not mutated
    got = await client.get_raw("configmap", "cfg")
    got["data"]["k"] = "v2"
    updated = await client.update_raw("configmaps", got)
    assert updated["data"] == {"k": "v2"}
    listed = await client.list_raw("ConfigMap", namespace="default")
    assert listed["kind"] == "ConfigMapList" and listed["metadata"]["resourceVersion"] == "3"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["cfg"]
    await client.create_raw("ns", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    req = last(spy)
    assert isinstance(req, api_pb2.CreateRequest) and (req.resource, req.namespace) == ("namespaces", "")
    deleted = await client.delete_raw("cm", "cfg", grace_period_seconds=0, propagation_policy="Foreground")
    assert deleted is not None and deleted["metadata"]["name"] == "cfg"
    req = last(spy)
    assert isinstance(req, api_pb2.DeleteRequest)
    assert req.HasField("grace_period_seconds") and req.grace_period_seconds == 0
    assert req.propagation_policy == "Foreground"
    with pytest.raises(NotFound):
        await client.get_raw("cm", "cfg")
    assert isinstance(await client.get(Namespace, "prod"), Namespace)


async def test_delete_without_grace_leaves_it_unset(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    _, spy, client = env
    await client.create(ConfigMap(metadata=ObjectMeta(name="c")))
    gone = await client.delete(ConfigMap, "c")
    assert isinstance(gone, ConfigMap) and gone.metadata.name == "c"
    req = last(spy)
    assert isinstance(req, api_pb2.DeleteRequest) and not req.HasField("grace_period_seconds")


async def test_update_status_bind_and_logs(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, spy, client = env
    p = await client.create(Pod(metadata=ObjectMeta(name="a")))
    p.status.phase = "Running"
    p = await client.update_status(p)
    assert p.status.phase == "Running"
    assert spy.sent[-1][0] == "UpdateStatus"
    await client.bind("default", "a", "node-1", pod_uid=p.metadata.uid or "")
    assert spy.sent[-1][0] == "Bind"
    assert (await client.get(Pod, "a")).spec.node_name == "node-1"
    assert [c async for c in client.logs("default", "a")] == [b"a line 0\n", b"a line 1\n", b"a line 2\n"]


async def test_watch_typed_with_bookmarks(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, _, client = env
    await client.create(Pod(metadata=ObjectMeta(name="a")))
    got: list[WatchEvent[Pod]] = []
    async with aclosing(client.watch(Pod, resource_version="0", allow_bookmarks=True)) as events:
        async for ev in events:
            got.append(ev)
            if ev.type == "ADDED":
                await server.bookmark("pods")
            else:
                break
    assert [e.type for e in got] == ["ADDED", "BOOKMARK"]
    assert isinstance(got[1].object, Pod) and got[1].object.metadata.resource_version == "2"
    assert server.active_watches == 0
    async with aclosing(client.watch_raw("po", resource_version="0")) as raw_events:
        async for raw in raw_events:
            assert raw.type == "ADDED" and raw.object["metadata"]["name"] == "a"
            break
    assert server.active_watches == 0


def test_a_bookmark_builds_no_validator_of_its_kind() -> None:
    """A bookmark of a kind the daemon holds no object of must not build that kind's nested
    validators (as filling its defaults did): it carries only the resourceVersion."""
    from pydantic import Field

    from kubelite.api.base import KubeModel

    class Spec(KubeModel):
        replicas: int = 1

    class Kind(KubeModel):
        api_version: str = ""
        kind: str = ""
        metadata: ObjectMeta = Field(default_factory=ObjectMeta)
        spec: Spec = Field(default_factory=Spec)

    mark = bookmark_object(Kind, "example/v1", "Kind", "42")
    assert isinstance(mark, Kind) and mark.metadata.resource_version == "42" and mark.kind == "Kind"
    assert not Spec.__pydantic_complete__
    with pytest.raises(AttributeError):
        _ = mark.spec
    Kind.model_construct(api_version="example/v1", kind="Kind")  # what bookmarks did
    assert Spec.__pydantic_complete__


async def test_update_with_retry_refetches_on_conflict(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, spy, client = env
    await client.create(ConfigMap(metadata=ObjectMeta(name="c"), data={"n": "0"}))
    calls = 0
    racer = ApiClient(LocalTransport(server))

    def bump(cm: ConfigMap) -> None:
        nonlocal calls
        calls += 1
        cm.data["mine"] = "yes"

    async def interfering_update() -> None:
        theirs = await racer.get(ConfigMap, "c")
        theirs.data["n"] = "1"
        await racer.update(theirs)

    original_get = client.get

    async def get_then_race(cls: type[ConfigMap], name: str, namespace: str = "default") -> ConfigMap:
        obj = await original_get(cls, name, namespace)
        if calls == 0:
            await interfering_update()  # another writer wins between our GET and UPDATE
        return obj

    client.get = get_then_race  # type: ignore[assignment, method-assign]
    result = await client.update_with_retry(ConfigMap, "c", "default", bump)
    assert calls == 2
    assert result.data == {"n": "1", "mine": "yes"}

    before = len(spy.sent)
    unchanged = await client.update_with_retry(ConfigMap, "c", "default", lambda cm: False)
    assert unchanged.data == result.data
    assert [m for m, _ in spy.sent[before:]] == ["Get"]


async def test_update_with_retry_gives_up_after_attempts(env: tuple[FakeApiServer, SpyTransport, ApiClient]) -> None:
    server, _, client = env
    await client.create(ConfigMap(metadata=ObjectMeta(name="c")))

    def stale(cm: ConfigMap) -> None:
        cm.metadata.resource_version = "1"  # always stale

    with pytest.raises(Conflict):
        await client.update_with_retry(ConfigMap, "c", "default", stale, attempts=3)
    assert server.calls.count("Update") == 3


async def test_local_transport_turns_handler_bugs_into_internal_errors(
    env: tuple[FakeApiServer, SpyTransport, ApiClient],
) -> None:
    server, _, client = env

    async def buggy(request: api_pb2.GetRequest) -> api_pb2.Object:
        raise KeyError("boom")

    server.Get = buggy  # type: ignore[method-assign]
    with pytest.raises(InternalError, match="boom"):
        await client.get(Pod, "a")
