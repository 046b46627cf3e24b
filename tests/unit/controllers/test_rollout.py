"""Rolling update, scale event and Recreate decisions, step by step."""

from __future__ import annotations

from controllers.deployment.rollout import (
    find_active_or_latest,
    new_rs_replicas,
    old_pods_running,
    proportional_scale,
    reconcile_new_rs,
    reconcile_old_rss,
    recreate_scale_down,
    replica_sets_to_clean,
)
from tests.unit.controllers.builders import deployment, replica_set


def ann(desired: int, maximum: int) -> dict[str, str]:
    return {"deployment.kubernetes.io/desired-replicas": str(desired),
            "deployment.kubernetes.io/max-replicas": str(maximum)}


def test_first_replica_set_starts_at_full_size() -> None:
    assert new_rs_replicas(deployment(3), [], None) == 3
    assert new_rs_replicas(deployment(3, strategy="Recreate"), [], None) == 3


def test_rolling_update_surges_one_then_waits_for_availability() -> None:
    d = deployment(3)  # 25%: surge 1, unavailable 0
    old = replica_set("web-old", 3, created=0)
    new = replica_set("web-new", 0, created=10)
    assert reconcile_new_rs(d, [old, new], new) == 1
    new = replica_set("web-new", 1, available=0, created=10)
    assert reconcile_new_rs(d, [old, new], new) is None  # 4 pods = replicas + surge
    assert reconcile_old_rss(d, new, [old]) == {}  # new pod not available: keep all old
    new = replica_set("web-new", 1, available=1, created=10)
    assert reconcile_old_rss(d, new, [old]) == {"web-old": 2}
    old = replica_set("web-old", 2, created=0)
    assert reconcile_new_rs(d, [old, new], new) == 2


def test_max_unavailable_allows_scaling_old_down_first() -> None:
    d = deployment(4, surge=0, unavailable=2)
    old = replica_set("web-old", 4)
    new = replica_set("web-new", 0, created=10)
    assert reconcile_new_rs(d, [old, new], new) is None  # no surge room
    assert reconcile_old_rss(d, new, [old]) == {"web-old": 2}
    old = replica_set("web-old", 2)
    assert reconcile_new_rs(d, [old, new], new) == 2


def test_unhealthy_old_pods_go_first_without_costing_availability() -> None:
    d = deployment(4, surge=1, unavailable=1)
    old = replica_set("web-old", 4, available=2)
    new = replica_set("web-new", 1, available=0, created=10)
    assert reconcile_old_rss(d, new, [old]) == {"web-old": 3}


def test_a_just_shrunk_rs_is_not_credited_with_pods_it_is_deleting() -> None:
    d = deployment(6, surge=1, unavailable=1)
    # old was cut to 4 a moment ago; its status still counts 5 available pods
    old = replica_set("web-old", 4, available=5)
    new = replica_set("web-new", 2, available=2, created=10)
    # really available: 4 + 2 = 6, one above the minimum of 5: shrink old by one, not two
    assert reconcile_old_rss(d, new, [old]) == {"web-old": 3}


def test_oldest_replica_sets_shrink_first() -> None:
    d = deployment(4, surge=0, unavailable=3)
    older = replica_set("web-a", 2, created=0)
    old = replica_set("web-b", 2, created=5)
    new = replica_set("web-c", 0, created=10)
    assert reconcile_old_rss(d, new, [old, older]) == {"web-a": 0, "web-b": 1}


def test_new_rs_above_desired_is_cut_back() -> None:
    d = deployment(2)
    new = replica_set("web-new", 5)
    assert reconcile_new_rs(d, [new], new) == 2


def test_scale_event_with_one_active_rs_resizes_it() -> None:
    d = deployment(5)
    rs = replica_set("web-a", 3, annotations=ann(3, 4))
    empty = replica_set("web-old", 0, created=-10)
    assert proportional_scale(d, rs, [empty]) == {"web-a": 5}
    assert find_active_or_latest(rs, [empty]) is rs


def test_scale_event_mid_rollout_is_proportional() -> None:
    d = deployment(20, status_replicas=13)  # surge 5 -> allowed 25
    old = replica_set("web-old", 5, annotations=ann(10, 13), created=0)
    new = replica_set("web-new", 8, annotations=ann(10, 13), created=10)
    sizes = proportional_scale(d, new, [old])
    assert sizes == {"web-new": 15, "web-old": 10}
    assert sum(sizes.values()) == 25


def test_scale_down_mid_rollout_is_proportional_and_never_negative() -> None:
    d = deployment(0, status_replicas=13)
    old = replica_set("web-old", 5, annotations=ann(10, 13), created=0)
    new = replica_set("web-new", 8, annotations=ann(10, 13), created=10)
    assert proportional_scale(d, new, [old]) == {"web-new": 0, "web-old": 0}


def test_scale_event_that_fits_the_surge_still_rewrites_every_annotation() -> None:
    # 3 -> 2 mid-rollout: 2 + surge 1 = the 3 pods there are, so no size changes, but the
    # annotations must say 2 or the Deployment is a scale event forever and never rolls on.
    d = deployment(2, status_replicas=3)
    old = replica_set("web-old", 2, annotations=ann(3, 4), created=0)
    new = replica_set("web-new", 1, annotations=ann(3, 4), created=10)
    assert proportional_scale(d, new, [old]) == {"web-old": 2, "web-new": 1}


def test_saturated_new_rs_zeroes_old_ones() -> None:
    d = deployment(3)
    new = replica_set("web-new", 3, annotations=ann(3, 4), created=10)
    old = replica_set("web-old", 1, annotations=ann(3, 4))
    assert proportional_scale(d, new, [old]) == {"web-old": 0}


def test_recreate_scales_old_to_zero_and_waits_for_pods() -> None:
    old = replica_set("web-old", 3)
    assert recreate_scale_down([old]) == {"web-old": 0}
    gone = replica_set("web-old", 0, status_replicas=0)
    assert recreate_scale_down([gone]) == {}
    assert old_pods_running([gone], ["Running"])  # a terminating pod still runs
    assert not old_pods_running([gone], ["Succeeded", "Failed"])
    assert not old_pods_running([gone], [])
    assert old_pods_running([replica_set("web-old", 0, status_replicas=1)], [])


def test_history_limit_deletes_oldest_empty_revisions() -> None:
    d = deployment(3, history=1)
    olds = [replica_set(f"web-{i}", 0, status_replicas=0, revision=i, created=i) for i in (3, 1, 2)]
    busy = replica_set("web-busy", 0, status_replicas=2, revision=0)
    doomed = replica_sets_to_clean(d, [*olds, busy])
    # 4 old, limit 1 -> 3 candidates, oldest revisions first; the one with pods left is spared
    assert [rs.metadata.name for rs in doomed] == ["web-1", "web-2"]
    assert replica_sets_to_clean(deployment(3), olds) == []  # default limit 10
