"""The HPA's replica calculation and behavior, against Kubernetes' documented examples, on a fake clock."""

from __future__ import annotations

import pytest

from controllers.hpa.plan import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    History,
    MetricTarget,
    PodSample,
    Policy,
    Rules,
    plan,
    propose,
    record,
)

CPU50 = MetricTarget("cpu", utilization=50)


def pods(*usages: float | None, request: float = 500.0, ready: bool = True) -> list[PodSample]:
    return [PodSample(f"p{i}", u, request, ready) for i, u in enumerate(usages)]


@pytest.mark.parametrize(("target", "samples", "current", "want"), [
    # "200m current, 100m desired: replicas doubled"; "50m current: halved"
    (MetricTarget("cpu", average_value=100), pods(200, 200), 2, 4),
    (MetricTarget("cpu", average_value=100), pods(50, 50, 50, 50), 4, 2),
    # within the 10% tolerance: no change
    (CPU50, pods(262, 262), 2, 2),
    # 90% of requests against 50%: ratio 1.8 over 3 pods -> 6
    (CPU50, pods(450, 450, 450), 3, 6),
    # a pod without metrics counts as 100% of target when scaling down: (10+10+50)/3 % -> 2 pods
    (CPU50, pods(50, 50, None), 3, 2),
    # a pod without metrics counts as 0% when scaling up: (100+100+0)/3 % -> ratio 1.33 -> 4
    (CPU50, pods(500, 500, None), 3, 4),
    # unready pods count as 0% when scaling up; here that lands at exactly the target: no change
    (CPU50, pods(500, 500) + pods(None, None, ready=False), 4, 4),
    # memory AverageValue ignores readiness
    (MetricTarget("memory", average_value=100.0), pods(300.0, 300.0), 2, 6),
])
def test_proposal(target: MetricTarget, samples: list[PodSample], current: int, want: int) -> None:
    assert propose(target, current, samples).replicas == want


def test_ignored_pods_and_missing_requests() -> None:
    deleting = PodSample("gone", 5000.0, 500.0, ignored=True)
    assert propose(CPU50, 2, pods(250, 250) + [deleting]).replicas == 2
    bad = propose(CPU50, 2, pods(250, request=0.0))
    assert bad.error == "missing request for cpu" and bad.replicas == 2
    assert propose(CPU50, 2, pods(None, None)).error.startswith("no metrics")
    assert propose(CPU50, 3, pods(450, 450, 450)).current_display == "90%"


def test_default_scale_up_limit_is_4_pods_or_double_per_15s() -> None:
    h = History()
    d = plan(h, 0.0, 1, [10], 1, 20)
    assert (d.replicas, d.limited) == (5, "ScaleUpLimit")
    record(h, 0.0, 1, 5)
    assert plan(h, 5.0, 5, [10], 1, 20).replicas == 5  # same period: 4 already added, percent from 1 -> 2
    assert plan(h, 16.0, 5, [20], 1, 20).replicas == 10  # new period: double


def test_scale_down_waits_for_the_300s_window() -> None:
    h = History()
    assert plan(h, 0.0, 5, [5], 1, 10).replicas == 5
    assert plan(h, 60.0, 5, [2], 1, 10).replicas == 5  # 5 was recommended within 300 s
    assert plan(h, 301.0, 5, [2], 1, 10).replicas == 2


def test_documented_scale_down_policies_80_to_10() -> None:
    """Pods 4/60s and Percent 10/60s, Max: 80 -> 72 (8), then 72 -> 64 (7.2 rounds to 8), below 40 by 4."""
    down = Rules(0, (Policy("Pods", 4, 60), Policy("Percent", 10, 60)), "Max")
    h, now, current, seen = History(), 0.0, 80, []
    while current > 10:
        d = plan(h, now, current, [10], 1, 100, DEFAULT_UP, down)
        record(h, now, current, d.replicas)
        seen.append(d.replicas)
        current, now = d.replicas, now + 61
    assert seen[:2] == [72, 64]
    assert seen == [72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10]  # percent above 40, then 4 pods


def test_select_min_and_disabled() -> None:
    up_min = Rules(0, (Policy("Pods", 4, 15), Policy("Percent", 100, 15)), "Min")
    assert plan(History(), 0.0, 1, [10], 1, 20, up_min).replicas == 2
    no_down = Rules(0, (Policy("Percent", 100, 15),), "Disabled")
    assert plan(History(), 0.0, 5, [1], 1, 20, DEFAULT_UP, no_down).replicas == 5


def test_min_and_max_bound_the_result() -> None:
    d = plan(History(), 0.0, 3, [50], 1, 4, Rules(0, (Policy("Percent", 1000, 15),)), DEFAULT_DOWN)
    assert (d.replicas, d.limited) == (4, "TooManyReplicas")
    d = plan(History(), 0.0, 3, [1], 2, 4, DEFAULT_UP, Rules(0, (Policy("Percent", 100, 15),)))
    assert (d.replicas, d.limited) == (2, "TooFewReplicas")


def test_documented_limit_of_10_percent_per_minute_down() -> None:
    """"Limit the rate at which pods are removed to 10% per minute": 100 -> 90, then 90 -> 81 a minute later."""
    down = Rules(0, (Policy("Percent", 10, 60),), "Max")
    h = History()
    d = plan(h, 0.0, 100, [1], 1, 100, DEFAULT_UP, down)
    assert (d.replicas, d.limited) == (90, "ScaleDownLimit")
    record(h, 0.0, 100, 90)
    assert plan(h, 30.0, 90, [1], 1, 100, DEFAULT_UP, down).replicas == 90  # this minute's 10% is used up
    assert plan(h, 61.0, 90, [1], 1, 100, DEFAULT_UP, down).replicas == 81


def test_documented_pods_policy_with_select_min_takes_the_smaller_change() -> None:
    """Pods 4/60s and Percent 10/60s with selectPolicy Min: from 80 remove min(4, 8) = 4."""
    down = Rules(0, (Policy("Pods", 4, 60), Policy("Percent", 10, 60)), "Min")
    assert plan(History(), 0.0, 80, [10], 1, 100, DEFAULT_UP, down).replicas == 76


def test_period_start_counts_changes_both_ways() -> None:
    """Scaled 4 -> 8 and back down to 6 within the period: the period started at 4, so +100% allows 8."""
    up = Rules(0, (Policy("Percent", 100, 60),), "Max")
    h = History()
    record(h, 0.0, 4, 8)
    record(h, 10.0, 8, 6)
    d = plan(h, 20.0, 6, [20], 1, 100, up, DEFAULT_DOWN)
    assert (d.replicas, d.limited) == (8, "ScaleUpLimit")


def test_scale_up_stabilization_window_uses_the_lowest_recent_recommendation() -> None:
    up = Rules(60, (Policy("Percent", 1000, 15),), "Max")
    h = History()
    assert plan(h, 0.0, 2, [3], 1, 20, up, DEFAULT_DOWN).replicas == 3
    assert plan(h, 10.0, 3, [9], 1, 20, up, DEFAULT_DOWN).replicas == 3  # 3 was recommended within 60 s
    assert plan(h, 61.0, 3, [9], 1, 20, up, DEFAULT_DOWN).replicas == 9


def test_pending_pods_count_as_zero_when_scaling_up_on_memory_too() -> None:
    target = MetricTarget("memory", average_value=100.0)
    samples = [PodSample("a", 300.0), PodSample("b", 300.0), PodSample("pending", None, ready=False)]
    # (300 + 300 + 0) / 3 = 200 per pod: ratio 2 over 3 pods -> 6
    assert propose(target, 3, samples).replicas == 6
