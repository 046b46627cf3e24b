"""Default RBAC objects of a cluster made by an older version gain what this version grants
(Kubernetes' start-up reconciliation): missing rules and subjects are added, nothing is removed,
and `autoupdate: "false"` opts an object out."""

from __future__ import annotations

from apiserver.authz.bootstrap import default_policy, reconciled
from kubelite.api.rbac import ClusterRole, ClusterRoleBinding, PolicyRule, Subject


def _default(kind: type, name: str) -> ClusterRole | ClusterRoleBinding:
    return next(o for o in default_policy() if isinstance(o, kind) and o.metadata.name == name)


def test_an_old_role_gains_the_missing_rules_and_keeps_an_admins_additions() -> None:
    default = _default(ClusterRole, "system:node-proxier")
    assert isinstance(default, ClusterRole)
    extra = PolicyRule(verbs=["get"], api_groups=[""], resources=["configmaps"])
    stored = default.model_copy(deep=True)
    stored.rules = [default.rules[0], extra]  # an older version's rules plus an admin's own
    updated = reconciled(stored, default)
    assert isinstance(updated, ClusterRole)
    assert all(rule in updated.rules for rule in default.rules) and extra in updated.rules
    assert reconciled(updated, default) is None  # nothing missing any more


def test_a_binding_gains_missing_subjects_and_opting_out_is_respected() -> None:
    default = _default(ClusterRoleBinding, "system:node-proxier")
    assert isinstance(default, ClusterRoleBinding)
    stored = default.model_copy(deep=True)
    stored.subjects = [Subject(kind="User", name="someone-else")]
    updated = reconciled(stored, default)
    assert isinstance(updated, ClusterRoleBinding)
    assert updated.subjects[0].name == "someone-else" and all(s in updated.subjects for s in default.subjects)
    stored.metadata.annotations = {"rbac.authorization.kubernetes.io/autoupdate": "false"}
    assert reconciled(stored, default) is None
