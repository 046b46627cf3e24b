"""The FailedScheduling message: reasons counted over nodes, like kube-scheduler."""

from __future__ import annotations

from scheduler.diagnosis import Diagnosis, fit_error_message
from scheduler.framework import Status


def test_counts_reasons_most_frequent_first() -> None:
    statuses = [
        Status.unschedulable("Insufficient cpu", plugin="NodeResourcesFit"),
        Status.unschedulable("node(s) were unschedulable", plugin="NodeUnschedulable"),
        Status.unschedulable("Insufficient cpu", plugin="NodeResourcesFit"),
    ]
    assert fit_error_message(3, statuses) == "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable."


def test_a_node_short_of_several_resources_counts_for_each() -> None:
    statuses = [Status.unschedulable("Insufficient cpu", "Insufficient memory")] * 2
    assert fit_error_message(2, statuses) == "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."


def test_equal_counts_are_ordered_by_reason() -> None:
    statuses = [Status.unschedulable("b reason"), Status.unschedulable("a reason")]
    assert fit_error_message(2, statuses) == "0/2 nodes are available: 1 a reason, 1 b reason."


def test_no_nodes() -> None:
    assert Diagnosis(0).message() == "no nodes available to schedule pods"


def test_diagnosis_remembers_rejecting_plugins() -> None:
    d = Diagnosis(2)
    d.add("n1", Status.unschedulable("Insufficient cpu", plugin="NodeResourcesFit"))
    d.add("n2", Status.unschedulable("node(s) were not ready", plugin="NodeReady"))
    assert d.unschedulable_plugins == {"NodeResourcesFit", "NodeReady"}
    assert d.message() == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready."
