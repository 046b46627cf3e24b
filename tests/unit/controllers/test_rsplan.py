"""ReplicaSet decisions: how many pods, which ones go, what status says."""

from __future__ import annotations

from datetime import timedelta

from controllers.claim import classify
from controllers.podutil import pods_to_delete
from controllers.replicaset.plan import (
    active,
    compute_status,
    next_availability_check,
    plan_replicas,
    pod_from_template,
)
from controllers.slowstart import slow_start_batches
from kubelite.api import LabelSelector
from kubelite.api.podutil import is_pod_active, is_pod_available
from kubelite.api.selectors import label_matcher
from tests.unit.controllers.builders import T0, pod, replica_set


def names(pods: list) -> list[str]:  # type: ignore[type-arg]
    return [p.metadata.name for p in pods]


def test_plan_creates_shortfall_and_deletes_surplus() -> None:
    rs = replica_set("rs", 3)
    assert plan_replicas(rs, [pod("a")]).create == 2
    assert plan_replicas(rs, [pod("a"), pod("b"), pod("c")]).create == 0
    surplus = plan_replicas(rs, [pod(n, created=i) for i, n in enumerate("abcde")])
    assert surplus.create == 0 and len(surplus.delete) == 2
    assert plan_replicas(replica_set("rs", 1000), [], burst=500).create == 500


def test_terminating_and_finished_pods_are_not_active() -> None:
    pods = [pod("run"), pod("gone", deleting=True), pod("done", phase="Succeeded"), pod("bad", phase="Failed"),
            pod("pending", phase="Pending", node=None, ready=False)]
    assert names(active(pods)) == ["run", "pending"]
    assert not is_pod_active(pods[1])


def test_deletion_ranking() -> None:
    pods = [
        pod("ready-old", created=0, ready_at=10),
        pod("unscheduled", node=None, phase="Pending", ready=False, created=0),
        pod("pending", phase="Pending", ready=False, created=0),
        pod("not-ready", ready=False, created=0),
        pod("ready-new", created=5, ready_at=10),
    ]
    order = names(pods_to_delete(pods, 5))
    assert order == ["unscheduled", "pending", "not-ready", "ready-new", "ready-old"]
    assert names(pods_to_delete(pods, 2)) == ["unscheduled", "pending"]
    assert pods_to_delete(pods, 0) == []


def test_ranking_prefers_crowded_nodes_short_readiness_and_restarts() -> None:
    crowded = [pod("c1", node="n1", created=0), pod("c2", node="n1", created=0)]
    lonely = pod("l1", node="n2", created=9)
    assert names(pods_to_delete([*crowded, lonely], 1))[0] in {"c1", "c2"}
    recently_ready = pod("recent", ready_at=100)
    long_ready = pod("long", ready_at=1)
    assert names(pods_to_delete([long_ready, recently_ready], 1)) == ["recent"]
    flappy = pod("flappy", restarts=4)
    steady = pod("steady")
    assert names(pods_to_delete([steady, flappy], 1)) == ["flappy"]


def test_slow_start_batches() -> None:
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(0) == []
    assert sum(slow_start_batches(500)) == 500


def test_pod_from_template_is_owned_and_labelled() -> None:
    rs = replica_set("web-abc", 2)
    p = pod_from_template(rs)
    assert p.metadata.generate_name == "web-abc-" and not p.metadata.name
    assert p.metadata.labels == {"app": "web"} and p.metadata.namespace == "default"
    ref = p.metadata.owner_references[0]
    assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("apps/v1", "ReplicaSet", "web-abc", "uid-web-abc")
    assert ref.controller is True and ref.block_owner_deletion is True
    assert p.spec.containers[0].image == "busybox:1.35"
    p.spec.containers[0].image = "changed"
    assert rs.spec.template.spec.containers[0].image == "busybox:1.35", "template must not be aliased"


def test_status_counts_ready_available_and_labels() -> None:
    rs = replica_set("rs", 3)
    rs.spec.min_ready_seconds = 30
    pods = [pod("a", ready_at=0), pod("b", ready_at=50), pod("c", ready=False, labels={"app": "web", "x": "y"}),
            pod("d", labels={"other": "1"})]
    now = T0 + timedelta(seconds=60)
    status = compute_status(rs, pods, now)
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (4, 3, 2)  # a and d ready long enough, b too recently
    assert status.fully_labeled_replicas == 3
    assert status.observed_generation == 1
    wait = next_availability_check(rs, pods, now)
    assert wait is not None and 19 < wait < 21
    assert is_pod_available(pods[1], 30, now + timedelta(seconds=21))


def test_claims_adopt_orphans_release_mismatches_ignore_others() -> None:
    matcher = label_matcher(LabelSelector(match_labels={"app": "web"}))
    mine = pod("mine", owner_uid="uid-rs")
    relabelled = pod("relabelled", owner_uid="uid-rs", labels={"app": "debug"})
    orphan = pod("orphan")
    orphan_terminating = pod("orphan-dying", deleting=True)
    foreign = pod("foreign", owner_uid="uid-other")
    unrelated = pod("unrelated", labels={"app": "db"})
    pods = [mine, relabelled, orphan, orphan_terminating, foreign, unrelated]
    claims = classify("uid-rs", False, matcher.matches, pods)
    assert names(claims.owned) == ["mine"]
    assert names(claims.adopt) == ["orphan"]
    assert names(claims.release) == ["relabelled"]
    deleting = classify("uid-rs", True, matcher.matches, pods)
    assert names(deleting.owned) == ["mine"] and not deleting.adopt and not deleting.release
