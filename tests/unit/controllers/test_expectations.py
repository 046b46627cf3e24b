"""Expectations keep a controller from acting twice on a cache that lags its own writes."""

from __future__ import annotations

from controllers.expectations import ControllerExpectations


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unknown_key_is_satisfied() -> None:
    assert ControllerExpectations().satisfied("default/web")


def test_creations_must_all_be_observed() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")  # extra observations never go negative
    rec = exp.get("ns/rs")
    assert rec is not None and rec.adds == 0


def test_lowering_for_failed_creations_satisfies() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("ns/rs", 4)
    exp.creation_observed("ns/rs")
    exp.lower_creations("ns/rs", 3)
    assert exp.satisfied("ns/rs")


def test_deletions_are_tracked_by_key_not_counted() -> None:
    exp = ControllerExpectations()
    exp.expect_deletions("ns/rs", ["ns/p1", "ns/p2"])
    # p1 is seen twice (deletionTimestamp set, then removed): counts once
    exp.deletion_observed("ns/rs", "ns/p1")
    exp.deletion_observed("ns/rs", "ns/p1")
    assert not exp.satisfied("ns/rs")
    exp.deletion_observed("ns/rs", "ns/other")  # unrelated pod changes nothing
    assert not exp.satisfied("ns/rs")
    exp.deletion_observed("ns/rs", "ns/p2")
    assert exp.satisfied("ns/rs")


def test_expired_expectations_are_satisfied() -> None:
    clock = Clock()
    exp = ControllerExpectations(timeout=300, clock=clock)
    exp.expect_creations("ns/rs", 1)
    clock.now += 299
    assert not exp.satisfied("ns/rs")
    clock.now += 2
    assert exp.satisfied("ns/rs")


def test_new_expectation_replaces_old_and_delete_forgets() -> None:
    exp = ControllerExpectations()
    exp.expect_creations("ns/rs", 3)
    exp.expect_deletions("ns/rs", ["ns/p"])
    rec = exp.get("ns/rs")
    assert rec is not None and rec.adds == 0 and rec.deletes == {"ns/p"}
    exp.delete("ns/rs")
    assert exp.get("ns/rs") is None and exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")  # observing a forgotten key is harmless
    exp.deletion_observed("ns/rs", "ns/p")
