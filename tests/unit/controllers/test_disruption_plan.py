"""PodDisruptionBudget arithmetic (controllers.disruption.plan) and the eviction decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.disruption.plan import compute_status, expected_and_desired, owners_scale, percent_of
from kubelite.api import Pod
from kubelite.api.policy import PodDisruptionBudget, budget_selects, eviction_denial
from kubelite.api.timeutil import format_time

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def budget(**spec: Any) -> PodDisruptionBudget:
    return PodDisruptionBudget.from_dict({"metadata": {"name": "web-pdb", "namespace": "default", "generation": 1},
                                          "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})


def pod(name: str, ready: bool = True, owner: str = "rs-1") -> Pod:
    return Pod.from_dict({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                          "uid": owner, "controller": True}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


@pytest.mark.parametrize(("spec", "pods", "scale", "expected"), [
    ({"minAvailable": 2}, 3, 3, (3, 2)),
    ({"minAvailable": "50%"}, 3, 4, (4, 2)),
    ({"minAvailable": "34%"}, 3, 3, (3, 2)),  # rounded up
    ({"maxUnavailable": 1}, 3, 3, (3, 2)),
    ({"maxUnavailable": "50%"}, 3, 3, (3, 1)),  # ceil(1.5) = 2 may be down
    ({"maxUnavailable": 5}, 3, 3, (3, 0)),
    ({}, 3, None, (3, 1)),
])
def test_expected_and_desired(spec: dict[str, Any], pods: int, scale: int | None,
                              expected: tuple[int, int]) -> None:
    assert expected_and_desired(budget(**spec), pods, scale) == expected


def test_percent_of() -> None:
    assert (percent_of(3, 10), percent_of("25%", 10), percent_of("0%", 10)) == (3, 3, 0)


def test_status_counts_only_healthy_pods() -> None:
    pods = [pod("a"), pod("b"), pod("c", ready=False)]
    status = compute_status(budget(minAvailable=2), pods, 3, NOW)
    assert (status.current_healthy, status.desired_healthy, status.expected_pods, status.disruptions_allowed) == \
        (2, 2, 3, 0)
    assert status.conditions[0].reason == "InsufficientPods"
    status = compute_status(budget(minAvailable=1), pods, 3, NOW)
    assert status.disruptions_allowed == 1 and status.conditions[0].status == "True"


def test_evictions_in_flight_are_not_counted_healthy_until_they_expire() -> None:
    pdb = budget(maxUnavailable=1)
    pdb.status.disrupted_pods = {"a": format_time(NOW - timedelta(seconds=10)),
                                 "gone": format_time(NOW)}
    status = compute_status(pdb, [pod("a"), pod("b"), pod("c")], 3, NOW)
    assert status.disrupted_pods == {"a": pdb.status.disrupted_pods["a"]}
    assert (status.current_healthy, status.disruptions_allowed) == (2, 0)
    later = compute_status(pdb, [pod("a"), pod("b"), pod("c")], 3, NOW + timedelta(minutes=3))
    assert later.disrupted_pods == {} and later.disruptions_allowed == 1


def test_owners_scale_sums_distinct_controllers() -> None:
    pods = [pod("a", owner="x"), pod("b", owner="x"), pod("c", owner="y")]
    assert owners_scale(pods, {"x": 2, "y": 5}) == 7
    assert owners_scale(pods, {"x": 2}) is None


def test_eviction_denial_names_the_budget() -> None:
    pdb = budget(minAvailable=2)
    pdb.status = compute_status(pdb, [pod("a"), pod("b")], 2, NOW)
    assert eviction_denial(pdb) == "The disruption budget web-pdb needs 2 healthy pods and has 2 currently"
    pdb.status = compute_status(pdb, [pod("a"), pod("b"), pod("c")], 3, NOW)
    assert eviction_denial(pdb) is None
    pdb.metadata.generation = 2
    assert "still being processed" in (eviction_denial(pdb) or "")


def test_selector_rules() -> None:
    assert budget_selects(budget(), {"app": "web"}) and not budget_selects(budget(), {"app": "db"})
    everything = PodDisruptionBudget.from_dict({"metadata": {"name": "all"}, "spec": {"selector": {}}})
    assert budget_selects(everything, {"any": "thing"})
    nothing = PodDisruptionBudget.from_dict({"metadata": {"name": "none"}, "spec": {}})
    assert not budget_selects(nothing, {"any": "thing"})
