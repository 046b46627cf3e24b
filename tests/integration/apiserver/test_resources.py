"""The resource API against a real kvstore: CRUD, optimistic concurrency, validation,
selectors, deletion semantics, binding — as a client sees them over gRPC."""

from __future__ import annotations

import asyncio
import json

import pytest

from apiserver import storage
from kubelite.api import (
    ConfigMap,
    Container,
    Deployment,
    DeploymentSpec,
    Endpoints,
    Event,
    LabelSelector,
    Lease,
    Namespace,
    Node,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
    Secret,
    Service,
    ServicePort,
    ServiceSpec,
)
from kubelite.api.errors import AlreadyExists, BadRequest, Conflict, Forbidden, Invalid, NotFound
from kubelite.client import ApiClient
from kubelite.pb.kubelite import api_pb2
from tests.integration.controlplane import ControlPlane
from tests.polling import eventually


def make_pod(name: str, labels: dict[str, str] | None = None, namespace: str = "default", **spec: object) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels or {}),
        spec=PodSpec(containers=[Container(name="main", image="busybox:1.35", command=["sleep", "60"])], **spec),
    )


def template(labels: dict[str, str]) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=labels),
        spec=PodSpec(containers=[Container(name="main", image="busybox:1.35")]),
    )


def make_deployment(name: str, replicas: int = 1) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=DeploymentSpec(replicas=replicas, selector=LabelSelector(match_labels={"app": name}),
                            template=template({"app": name})),
    )


async def test_system_namespaces_exist(control_plane: ControlPlane) -> None:
    names = {ns.metadata.name for ns in (await control_plane.client.list(Namespace)).items}
    assert {"default", "kube-system", "kube-node-lease"} <= names


async def test_crud_of_each_kind(control_plane: ControlPlane) -> None:
    c = control_plane.client
    objects = [
        make_pod("p"),
        make_deployment("d"),
        ReplicaSet(metadata=ObjectMeta(name="rs", namespace="default"),
                   spec=ReplicaSetSpec(replicas=1, selector=LabelSelector(match_labels={"app": "rs"}),
                                       template=template({"app": "rs"}))),
        Service(metadata=ObjectMeta(name="svc", namespace="default"),
                spec=ServiceSpec(selector={"app": "x"}, ports=[ServicePort(port=80)])),
        Endpoints(metadata=ObjectMeta(name="svc", namespace="default")),
        ConfigMap(metadata=ObjectMeta(name="cm", namespace="default"), data={"k": "v"}),
        Secret(metadata=ObjectMeta(name="s", namespace="default")),
        Event(metadata=ObjectMeta(name="e", namespace="default"), reason="Test", message="hello",
              involved_object=ObjectReference(kind="Pod", name="p", namespace="default")),
        Lease(metadata=ObjectMeta(name="l", namespace="kube-node-lease")),
        Node(metadata=ObjectMeta(name="n1")),
        Namespace(metadata=ObjectMeta(name="team-a")),
    ]
    for obj in objects:
        created = await c.create(obj)
        kind = type(obj)
        ns = created.metadata.namespace or "default"
        assert created.metadata.uid and created.metadata.creation_timestamp
        assert created.metadata.generation == 1
        assert int(created.metadata.resource_version or "0") > 0
        got = await c.get(kind, obj.metadata.name or "", ns)
        assert got.metadata.uid == created.metadata.uid
        assert got.metadata.resource_version == created.metadata.resource_version
        got.metadata.labels["touched"] = "yes"
        updated = await c.update(got)
        assert updated.metadata.labels["touched"] == "yes"
        assert int(updated.metadata.resource_version or "0") > int(created.metadata.resource_version or "0")
        listed = await c.list(kind, namespace=created.metadata.namespace)
        assert obj.metadata.name in {i.metadata.name for i in listed.items}
        if kind is Namespace:
            continue
        await c.delete(kind, obj.metadata.name or "", ns)
        with pytest.raises(NotFound):
            await c.get(kind, obj.metadata.name or "", ns)


async def test_errors_have_kubernetes_reasons(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create(make_pod("dup"))
    with pytest.raises(AlreadyExists, match='pods "dup" already exists'):
        await c.create(make_pod("dup"))
    with pytest.raises(NotFound, match='pods "nope" not found'):
        await c.get(Pod, "nope")
    with pytest.raises(NotFound, match='namespaces "missing" not found'):
        await c.create(make_pod("x", namespace="missing"))
    with pytest.raises(NotFound, match="the server doesn't have a resource type \"foos\""):
        await c.transport.unary("Get", api_pb2.GetRequest(resource="foos", namespace="default", name="x"))
    with pytest.raises(BadRequest):
        await c.transport.unary("Create", api_pb2.CreateRequest(resource="pods", namespace="default", json=b"{nope"))
    with pytest.raises(BadRequest, match="request is for"):
        await c.create_raw("pods", make_deployment("wrong-kind").to_dict())


async def test_invalid_object_names_the_field(control_plane: ControlPlane) -> None:
    with pytest.raises(Invalid) as info:
        await control_plane.client.create(make_deployment("bad", replicas=-1))
    assert "spec.replicas" in [cause.field for cause in info.value.causes]
    assert "spec.replicas" in str(info.value)
    with pytest.raises(NotFound):
        await control_plane.client.get(Deployment, "bad")


async def test_stale_update_conflicts_and_unconditional_update_wins(control_plane: ControlPlane) -> None:
    c = control_plane.client
    first = await c.create(make_deployment("web"))
    first.spec.replicas = 2
    second = await c.update(first)
    assert second.metadata.generation == 2, "a spec change bumps generation"
    first.spec.replicas = 3
    with pytest.raises(Conflict, match="the object has been modified; please apply your changes"):
        await c.update(first)
    first.metadata.resource_version = None
    third = await c.update(first)
    assert third.spec.replicas == 3 and third.metadata.generation == 3


async def test_update_keeps_status_and_noop_update_does_not_write(control_plane: ControlPlane) -> None:
    c = control_plane.client
    pod = await c.create(make_pod("st"))
    pod.status.phase = "Running"
    with_status = await c.update_status(pod)
    assert with_status.status.phase == "Running"
    assert with_status.metadata.generation == 1, "status writes never bump generation"
    with_status.status.phase = "Failed"
    with_status.metadata.labels["a"] = "b"
    updated = await c.update(with_status)
    assert updated.status.phase == "Running", "Update ignores status"
    assert updated.metadata.generation == 1, "a metadata-only change keeps generation"
    again = await c.update(updated)
    assert again.metadata.resource_version == updated.metadata.resource_version
    stale = updated.model_copy(deep=True)
    stale.metadata.resource_version = pod.metadata.resource_version
    stale.status.phase = "Succeeded"
    with pytest.raises(Conflict):
        await c.update_status(stale)


async def test_generate_name(control_plane: ControlPlane) -> None:
    c = control_plane.client
    pod = make_pod("")
    pod.metadata.name = None
    pod.metadata.generate_name = "web-"
    a, b = await c.create(pod), await c.create(pod)
    assert a.metadata.name and a.metadata.name.startswith("web-") and len(a.metadata.name) == len("web-") + 5
    assert a.metadata.name != b.metadata.name


async def test_dry_run_writes_nothing(control_plane: ControlPlane) -> None:
    c = control_plane.client
    out = await c.create(make_pod("dry"), dry_run=True)
    assert out.metadata.uid
    with pytest.raises(NotFound):
        await c.get(Pod, "dry")


async def test_list_right_after_create_sees_it(control_plane: ControlPlane) -> None:
    c = control_plane.client
    for i in range(20):
        await c.create(make_pod(f"ryw-{i}", {"batch": "ryw"}))
        listed = await c.list(Pod, namespace="default", label_selector="batch=ryw")
        assert len(listed.items) == i + 1
    cm = await c.create(ConfigMap(metadata=ObjectMeta(name="quiet", namespace="default")))
    assert [x.metadata.name for x in (await c.list(ConfigMap, namespace="default")).items] == ["quiet"]
    await c.delete(ConfigMap, "quiet")
    assert (await c.list(ConfigMap, namespace="default")).items == []
    assert cm.metadata.name == "quiet"


async def test_label_and_field_selectors(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create(Namespace(metadata=ObjectMeta(name="other")))
    await c.create(make_pod("a1", {"app": "a", "tier": "web"}))
    await c.create(make_pod("a2", {"app": "a", "tier": "db"}))
    await c.create(make_pod("b1", {"app": "b"}, node_name="node-1"))
    await c.create(make_pod("o1", {"app": "a"}, namespace="other", node_name="node-1"))

    async def names(**kw: str) -> list[str]:
        return sorted(p.metadata.name or "" for p in (await c.list(Pod, **kw)).items)  # type: ignore[arg-type]

    assert await names(namespace="default", label_selector="app=a") == ["a1", "a2"]
    assert await names(label_selector="app=a") == ["a1", "a2", "o1"]
    assert await names(label_selector="app=a,tier!=db") == ["a1", "o1"]
    assert await names(label_selector="tier in (web,db)") == ["a1", "a2"]
    assert await names(label_selector="!tier") == ["b1", "o1"]
    assert await names(field_selector="spec.nodeName=node-1") == ["b1", "o1"]
    assert await names(namespace="default", field_selector="spec.nodeName=node-1") == ["b1"]
    assert await names(namespace="default", field_selector="spec.nodeName=") == ["a1", "a2"]
    assert await names(field_selector="metadata.name=a2") == ["a2"]
    assert await names(field_selector="metadata.namespace=other") == ["o1"]
    assert await names(field_selector="status.phase=Pending,metadata.name!=a1", namespace="default") == ["a2", "b1"]
    await c.create(Event(metadata=ObjectMeta(name="ev1", namespace="default"), reason="R", message="m",
                         involved_object=ObjectReference(kind="Pod", name="a1", namespace="default")))
    events = await c.list(Event, namespace="default", field_selector="involvedObject.name=a1")
    assert [e.metadata.name for e in events.items] == ["ev1"]
    with pytest.raises(BadRequest):
        await c.list(Pod, label_selector="app in (")


async def test_pagination_with_limit_and_continue(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await asyncio.gather(*(c.create(make_pod(f"page-{i:02d}", {"set": "page"})) for i in range(25)))
    await c.create(make_pod("other"))
    seen: list[str] = []
    token = ""
    pages = 0
    first_rv = ""
    while True:
        page = await c.list(Pod, namespace="default", label_selector="set=page", limit=10, continue_=token)
        first_rv = first_rv or page.resource_version
        assert page.resource_version == first_rv, "every page reflects the first page's snapshot"
        seen += [p.metadata.name or "" for p in page.items]
        pages += 1
        if pages == 1:
            await c.create(make_pod("page-zz", {"set": "page"}))  # after the snapshot: not listed
        if not page.continue_:
            break
        token = page.continue_
    assert pages == 3
    assert seen == [f"page-{i:02d}" for i in range(25)]
    with pytest.raises(BadRequest):
        await c.list(Pod, namespace="default", limit=5, continue_="garbage")


async def test_bind_sets_node_and_condition_and_conflicts(control_plane: ControlPlane) -> None:
    c = control_plane.client
    pod = await c.create(make_pod("bindme"))
    await c.bind("default", "bindme", "node-1", pod_uid=pod.metadata.uid or "")
    bound = await c.get(Pod, "bindme")
    assert bound.spec.node_name == "node-1"
    assert any(cond.type == "PodScheduled" and cond.status == "True" for cond in bound.status.conditions)
    # The same placement again: nothing to write; the answer is Kubernetes' binding answer, not the pod.
    answer = await c.transport.unary("Bind", api_pb2.BindRequest(namespace="default", name="bindme", node_name="node-1"))
    assert json.loads(answer.json) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                       "code": 201}
    assert (await c.get(Pod, "bindme")).metadata.resource_version == bound.metadata.resource_version
    with pytest.raises(Conflict, match="already assigned"):
        await c.bind("default", "bindme", "node-2")
    with pytest.raises(NotFound):
        await c.bind("default", "ghost", "node-1")
    other = await c.create(make_pod("uid-check"))
    with pytest.raises(Conflict):
        await c.bind("default", "uid-check", "node-1", pod_uid="not-" + (other.metadata.uid or ""))


async def test_updates_from_a_stale_watch_cache_copy_are_caught(control_plane: ControlPlane,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Bind starts from the watch cache's copy; a stale copy must never win or mislead."""
    c = control_plane.client
    cache = control_plane.apiserver.service.caches["pods"]
    key = storage.object_key("pods", "default", "stale")
    await c.create(make_pod("stale"))
    stale = await eventually(lambda: asyncio.sleep(0, cache.get(key)), "the cache to hold the pod")
    relabelled = await c.get(Pod, "stale")
    relabelled.metadata.labels = {"tier": "web"}
    await c.update(relabelled)
    monkeypatch.setattr(cache, "get", lambda k: stale if k == key else None)  # the cache lags from here on
    await c.bind("default", "stale", "node-1")
    bound = await c.get(Pod, "stale")
    assert bound.spec.node_name == "node-1" and bound.metadata.labels == {"tier": "web"}  # not lost
    with pytest.raises(Conflict, match="already assigned"):  # the stale copy says unbound: re-checked
        await c.bind("default", "stale", "node-2")
    assert (await c.get(Pod, "stale")).spec.node_name == "node-1"


async def test_graceful_delete_of_bound_pod(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create(make_pod("graceful", termination_grace_period_seconds=7))
    await c.bind("default", "graceful", "node-1")
    marked = await c.delete(Pod, "graceful")
    assert marked is not None and marked.metadata.deletion_timestamp
    assert marked.metadata.deletion_grace_period_seconds == 7
    still = await c.get(Pod, "graceful")
    assert still.metadata.deletion_timestamp == marked.metadata.deletion_timestamp
    shorter = await c.delete(Pod, "graceful", grace_period_seconds=2)
    assert shorter is not None and shorter.metadata.deletion_grace_period_seconds == 2
    await c.delete(Pod, "graceful", grace_period_seconds=0)  # what the kubelet does once containers stopped
    with pytest.raises(NotFound):
        await c.get(Pod, "graceful")
    await c.create(make_pod("unbound"))
    await c.delete(Pod, "unbound")
    with pytest.raises(NotFound):
        await c.get(Pod, "unbound")


async def test_finalizers_hold_deletion_until_removed(control_plane: ControlPlane) -> None:
    c = control_plane.client
    cm = ConfigMap(metadata=ObjectMeta(name="held", namespace="default", finalizers=["example.com/hold"]))
    await c.create(cm)
    marked = await c.delete(ConfigMap, "held")
    assert marked is not None and marked.metadata.deletion_timestamp
    current = await c.get(ConfigMap, "held")
    current.metadata.finalizers = []
    await c.update(current)
    with pytest.raises(NotFound):
        await c.get(ConfigMap, "held")


async def test_delete_preconditions_and_propagation(control_plane: ControlPlane) -> None:
    c = control_plane.client
    d = await c.create(make_deployment("pre"))
    with pytest.raises(Conflict, match="Precondition failed"):
        await c.delete(Deployment, "pre", precondition_uid="wrong")
    with pytest.raises(BadRequest):
        await c.delete(Deployment, "pre", propagation_policy="Sideways")
    orphaning = await c.delete(Deployment, "pre", propagation_policy="Orphan", precondition_uid=d.metadata.uid)
    assert orphaning is not None and "orphan" in orphaning.metadata.finalizers
    await c.delete(Deployment, "pre")
    assert (await c.get(Deployment, "pre")).metadata.deletion_timestamp


async def test_terminating_namespace_refuses_new_objects_then_goes_away(control_plane: ControlPlane) -> None:
    c = control_plane.client
    await c.create(Namespace(metadata=ObjectMeta(name="doomed")))
    await c.create(ConfigMap(metadata=ObjectMeta(name="cm", namespace="doomed")))
    ns = await c.delete(Namespace, "doomed", namespace="")
    assert ns is not None and ns.status.phase == "Terminating"
    with pytest.raises(Forbidden, match="being terminated"):
        await c.create(ConfigMap(metadata=ObjectMeta(name="cm2", namespace="doomed")))
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        try:
            await c.get(Namespace, "doomed", namespace="")
        except NotFound:
            break
        assert asyncio.get_running_loop().time() < deadline, "namespace content was not cleaned up"
        await asyncio.sleep(0.05)
    with pytest.raises(NotFound):
        await c.get(ConfigMap, "cm", namespace="doomed")


async def test_apiserver_restart_keeps_data(control_plane: ControlPlane) -> None:
    created = await control_plane.client.create(make_pod("durable"))
    await control_plane.restart_apiserver()
    client = ApiClient.connect(control_plane.server)
    try:
        got = await client.get(Pod, "durable")
        assert got.metadata.uid == created.metadata.uid
        assert [p.metadata.name for p in (await client.list(Pod, namespace="default")).items] == ["durable"]
    finally:
        await client.close()
