"""Write rules: grace periods (the pod strategy), deletion marking, no-op detection, binding."""

from __future__ import annotations

import pytest

from apiserver import objects
from apiserver.selection import _pinned_node
from apiserver.strategy import DEFAULT_POD_GRACE_SECONDS, Strategies
from kubelite.api import Container, ObjectMeta, Pod, PodSpec, registry
from kubelite.api.errors import Conflict

PODS = registry.lookup("pods")
CONFIGMAPS = registry.lookup("configmaps")
STRATEGIES = Strategies()


def pod(node: str = "", grace: int | None = None, phase: str = "Pending") -> Pod:
    p = Pod(metadata=ObjectMeta(name="p", namespace="default", uid="u1"),
            spec=PodSpec(containers=[Container(name="c", image="i")], node_name=node or None,
                         termination_grace_period_seconds=grace))
    p.status.phase = phase
    return p


def test_grace_period_rules() -> None:
    assert STRATEGIES.of(PODS).deletion_grace(pod(), None) == 0, "unbound pods go at once"
    assert STRATEGIES.of(PODS).deletion_grace(pod("n1"), None) == DEFAULT_POD_GRACE_SECONDS
    assert STRATEGIES.of(PODS).deletion_grace(pod("n1", grace=5), None) == 5
    assert STRATEGIES.of(PODS).deletion_grace(pod("n1", grace=5), 1) == 1
    assert STRATEGIES.of(PODS).deletion_grace(pod("n1", phase="Succeeded"), None) == 0
    assert STRATEGIES.of(CONFIGMAPS).deletion_grace(pod("n1"), 10) == 0


def test_mark_deleting_only_shortens() -> None:
    p = pod("n1")
    assert objects.mark_deleting(p, 30, "")
    first = p.metadata.deletion_timestamp
    assert first and p.metadata.deletion_grace_period_seconds == 30
    assert not objects.mark_deleting(p, 60, "")
    assert objects.mark_deleting(p, 5, "")
    assert p.metadata.deletion_grace_period_seconds == 5
    assert not objects.ready_to_remove(p)
    assert objects.mark_deleting(p, 0, "")
    assert objects.ready_to_remove(p)


def test_propagation_policy_is_recorded_as_finalizer() -> None:
    p = pod()
    objects.mark_deleting(p, 0, "Orphan")
    assert p.metadata.finalizers == ["orphan"]
    assert not objects.ready_to_remove(p)


def test_same_content_ignores_resource_version() -> None:
    a = {"metadata": {"name": "x", "resourceVersion": "1"}, "spec": {"a": 1}}
    b = {"metadata": {"name": "x", "resourceVersion": "2"}, "spec": {"a": 1}}
    assert objects.same_content(a, b)
    assert not objects.same_content(a, {**b, "spec": {"a": 2}})


def test_bind() -> None:
    p = pod()
    STRATEGIES.pods.bind(p, "n1", "u1")
    assert p.spec.node_name == "n1"
    assert [(c.type, c.status) for c in p.status.conditions] == [("PodScheduled", "True")]
    with pytest.raises(Conflict, match="already assigned"):
        STRATEGIES.pods.bind(p, "n2", "")
    with pytest.raises(Conflict):
        STRATEGIES.pods.bind(pod(), "n1", "other-uid")
    annotated = pod()
    annotated.metadata.annotations = {"kept": "1", "replaced": "old"}
    STRATEGIES.pods.bind(annotated, "n1", "", {"replaced": "new", "added": "2"})
    assert annotated.metadata.annotations == {"kept": "1", "replaced": "new", "added": "2"}


def test_pinned_node_for_the_index() -> None:
    assert _pinned_node("spec.nodeName=n1") == "n1"
    assert _pinned_node("status.phase!=Failed,spec.nodeName==n2") == "n2"
    assert _pinned_node("spec.nodeName!=n1") is None
    assert _pinned_node("spec.nodeName=") is None
    assert _pinned_node("") is None
