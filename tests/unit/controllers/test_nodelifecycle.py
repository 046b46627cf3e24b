"""Pure rules of the node lifecycle controller: which taints a node gets, how long a pod may stay."""

from __future__ import annotations

from controllers.nodelifecycle.controller import reconcile_taints
from kubelite.api import Taint, Toleration
from kubelite.api.taints import NOT_READY, UNREACHABLE, toleration_seconds

UNREACH_NE = Taint(key=UNREACHABLE, effect="NoExecute", time_added="2026-01-01T00:00:00Z")


def test_taints_follow_ready_status_and_keep_their_time_added() -> None:
    assert reconcile_taints([], "True", 0.0) is None
    assert reconcile_taints([], None, 0.0) is None  # never reported yet: leave it alone
    added = reconcile_taints([], "Unknown", 0.0)
    assert added is not None and {(t.key, t.effect) for t in added} == {
        (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}
    kept = reconcile_taints([UNREACH_NE], "Unknown", 99.0)
    assert kept is not None and kept[0].time_added == "2026-01-01T00:00:00Z"
    switched = reconcile_taints(added, "False", 0.0)
    assert switched is not None and {t.key for t in switched} == {NOT_READY}
    user = Taint(key="dedicated", value="gpu", effect="NoSchedule")
    assert reconcile_taints([user, *added], "True", 0.0) == [user]


def test_toleration_seconds_rules() -> None:
    tol = lambda **kw: Toleration(**kw)  # noqa: E731
    assert toleration_seconds([UNREACH_NE], []) == 0.0
    assert toleration_seconds([UNREACH_NE], [tol(key=UNREACHABLE, operator="Exists", effect="NoExecute")]) is None
    assert toleration_seconds([UNREACH_NE], [
        tol(key=UNREACHABLE, operator="Exists", effect="NoExecute", toleration_seconds=30),
        tol(operator="Exists", toleration_seconds=10)]) == 10.0
    assert toleration_seconds([Taint(key="x", effect="NoSchedule")], []) is None  # only NoExecute evicts
    assert toleration_seconds([UNREACH_NE, Taint(key="other", effect="NoExecute")],
                              [tol(key=UNREACHABLE, operator="Exists", toleration_seconds=5)]) == 0.0
