"""Server-side apply and field ownership as pure functions (apiserver/apply)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.apply import fieldset, merge
from apiserver.apply.fieldset import describe, from_fields_v1, leaves, scoped, to_fields_v1
from kubelite.api.errors import Conflict

NOW = "2026-12-06T08:00:00Z"
LATER = "2026-12-06T09:00:00Z"


def deploy(replicas: int = 1, image: str = "nginx", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "main", "image": image, **extra}]}}}}


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {(e.manager, e.operation): {describe(p) for p in e.fields} for e in merge.read_entries(obj)}


def with_entries(obj: dict[str, Any], entries: list[merge.Entry]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["managedFields"] = merge.write_entries(entries)
    return obj


@pytest.mark.parametrize("obj,expected", [
    ({"spec": {"replicas": 2}}, {".spec.replicas"}),
    ({"metadata": {"name": "x", "uid": "u", "labels": {"a": "1"}}}, {".metadata.labels.a"}),
    ({"spec": {"selector": {"matchLabels": {"a": "1"}}}}, {".spec.selector"}),  # atomic
    ({"spec": {"args": ["a", "b"]}}, {".spec.args"}),  # atomic list
    ({"metadata": {"finalizers": ["x"]}}, {'.metadata.finalizers[="x"]'}),  # set list
    ({"spec": {"emptyDir": {}}}, {".spec.emptyDir"}),
    ({"spec": {"containers": [{"name": "c", "image": "i"}]}},
     {'.spec.containers[name="c"]', '.spec.containers[name="c"].name', '.spec.containers[name="c"].image'}),
    ({"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}},
     {".spec.ports[port=80]", ".spec.ports[port=80].port", ".spec.ports[port=80].protocol"}),
    ({"status": {"phase": "Running"}, "kind": "Pod", "apiVersion": "v1"}, set()),
])
def test_field_set_members(obj: dict[str, Any], expected: set[str]) -> None:
    assert {describe(p) for p in leaves(scoped(obj))} == expected


def test_fields_v1_round_trip_marks_owned_items_with_a_dot() -> None:
    paths = set(leaves(scoped(deploy())))
    tree = to_fields_v1(paths)
    item = tree["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"main"}']
    assert item == {".": {}, "f:name": {}, "f:image": {}}
    assert tree["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert from_fields_v1(tree) == paths
    assert from_fields_v1({"f:spec": "bogus", 7: {}}) == {("f:spec",)}
    obj = deploy(args=["a"], ports=[{"containerPort": 80}])
    obj["metadata"]["finalizers"] = ["x"]
    assert fieldset.fields_tree(scoped(obj)) == to_fields_v1(set(leaves(scoped(obj))))


def test_remove_path_deletes_fields_and_items() -> None:
    obj = deploy()
    obj["metadata"]["finalizers"] = ["a", "b"]
    fieldset.remove_path(obj, ("f:metadata", "f:finalizers", 'v:"a"'))
    fieldset.remove_path(obj, ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"main"}'))
    fieldset.remove_path(obj, ("f:spec", "f:nothing", "f:here"))
    assert obj["metadata"]["finalizers"] == ["b"]
    assert obj["spec"]["template"]["spec"]["containers"] == []


def test_apply_creates_with_an_apply_entry() -> None:
    obj, entries = merge.apply(None, deploy(), "mgr", force=False, now=NOW, resource="deployments", name="web")
    assert obj == deploy()
    assert [(e.manager, e.operation, e.api_version, e.time) for e in entries] == [("mgr", "Apply", "apps/v1", NOW)]
    assert ".spec.replicas" in {describe(p) for p in entries[0].fields}


def _applied(live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool = False
             ) -> dict[str, Any]:
    obj, entries = merge.apply(live, config, manager, force=force, now=LATER, resource="deployments", name="web")
    return with_entries(obj, entries)


def test_reapply_by_the_same_manager_changes_and_removes_its_fields() -> None:
    first = _applied(None, deploy(), "a")
    config = deploy(replicas=3, image="nginx:2")
    del config["metadata"]["labels"]
    second = _applied(first, config, "a")
    assert second["spec"]["replicas"] == 3
    assert second["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert "labels" not in second["metadata"] or not second["metadata"]["labels"]
    assert ".metadata.labels.app" not in owners(second)[("a", "Apply")]


def test_apply_conflicts_with_another_manager_unless_forced() -> None:
    live = _applied(None, deploy(replicas=1), "a")
    with pytest.raises(Conflict) as caught:
        _applied(live, deploy(replicas=5, image="other"), "b")
    err = caught.value
    assert err.message == (
        'Apply failed with 2 conflicts: conflicts with "a" using apps/v1:\n'
        '- .spec.replicas\n- .spec.template.spec.containers[name="main"].image')
    assert [(c.field, c.reason) for c in err.causes] == [
        (".spec.replicas", "FieldManagerConflict"),
        ('.spec.template.spec.containers[name="main"].image', "FieldManagerConflict")]
    assert err.code == 409
    forced = _applied(live, deploy(replicas=5, image="other"), "b", force=True)
    assert forced["spec"]["replicas"] == 5
    assert ".spec.replicas" not in owners(forced)[("a", "Apply")]
    assert ".spec.replicas" in owners(forced)[("b", "Apply")]


def test_single_conflict_message() -> None:
    live = _applied(None, deploy(replicas=1), "a")
    with pytest.raises(Conflict, match=r'^Apply failed with 1 conflict: conflict with "a" using apps/v1: '
                                       r'\.spec\.replicas$'):
        _applied(live, deploy(replicas=2), "b")


def test_equal_values_are_shared_and_survive_one_manager_dropping_them() -> None:
    live = _applied(None, deploy(), "a")
    shared = _applied(live, deploy(), "b")
    assert owners(shared)[("a", "Apply")] == owners(shared)[("b", "Apply")]
    config = deploy()
    del config["spec"]["replicas"]
    after = _applied(shared, config, "a")
    assert after["spec"]["replicas"] == 1  # b still owns it
    assert ".spec.replicas" not in owners(after)[("a", "Apply")]


def test_keyed_lists_merge_by_key_and_atomic_lists_are_replaced() -> None:
    live = _applied(None, deploy(args=["x", "y"]), "a")
    config = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}}
    both = _applied(live, config, "b")
    assert [c["name"] for c in both["spec"]["template"]["spec"]["containers"]] == ["main", "side"]
    again = _applied(live, deploy(args=["z"]), "a")
    assert again["spec"]["template"]["spec"]["containers"][0]["args"] == ["z"]


def test_update_takes_changed_fields_without_conflict() -> None:
    live = _applied(None, deploy(replicas=1), "a")
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 4
    scaled["metadata"]["managedFields"] = merge.record_update(live, scaled, "kubectl-scale", "apps/v1", LATER)
    updated = scaled
    assert owners(updated)[("kubectl-scale", "Update")] == {".spec.replicas"}
    assert ".spec.replicas" not in owners(updated)[("a", "Apply")]
    # a's next apply of its old value conflicts with the new owner
    with pytest.raises(Conflict, match='conflict with "kubectl-scale"'):
        _applied(updated, deploy(replicas=1), "a")


def test_update_with_no_change_records_nothing_and_removed_fields_are_disowned() -> None:
    live = _applied(None, deploy(), "a")
    same = merge.record_update(live, copy.deepcopy(live), "x", "apps/v1", NOW)
    assert same == live["metadata"]["managedFields"]  # untouched, not even re-encoded
    unlabelled = copy.deepcopy(live)
    del unlabelled["metadata"]["labels"]
    unlabelled["metadata"]["managedFields"] = merge.record_update(live, unlabelled, "x", "apps/v1", NOW)
    assert owners(unlabelled) == {("a", "Apply"): owners(live)[("a", "Apply")] - {".metadata.labels.app"}}


def test_status_updates_own_only_status() -> None:
    old = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n"}}
    new = {**old, "status": {"phase": "Running"}}
    new["metadata"] = {**old["metadata"], "managedFields": merge.record_update(old, new, "kubelet", "v1", NOW, "status")}
    assert [(e.manager, e.subresource, {describe(p) for p in e.fields}) for e in merge.read_entries(new)] == [
        ("kubelet", "status", {".status.phase"})]
    # a later status change leaves the spec owners' entries as they were
    spec_owned = merge.record_update(None, old, "creator", "v1", NOW)
    old["metadata"]["managedFields"] = spec_owned
    newer = copy.deepcopy(old)
    newer["status"] = {"phase": "Succeeded"}
    after = merge.record_update(old, newer, "kubelet", "v1", LATER, "status")
    assert after[0] is spec_owned[0]
    assert (after[1]["manager"], after[1]["subresource"], after[1]["time"]) == ("kubelet", "status", LATER)


def test_stamp_keeps_rewritten_or_cleared_ownership_and_records_the_writer() -> None:
    from apiserver.apply.manager import WriteManager, stamp, writing_as

    live = _applied(None, deploy(), "a")
    with writing_as(WriteManager("b")):
        untouched = stamp("apps/v1", live, copy.deepcopy(live))
        assert untouched["metadata"]["managedFields"] == live["metadata"]["managedFields"]
        rewritten = copy.deepcopy(live)
        rewritten["metadata"]["managedFields"][0]["manager"] = "renamed"
        assert set(owners(stamp("apps/v1", live, rewritten))) == {("renamed", "Apply")}
        cleared = copy.deepcopy(live)
        cleared["metadata"]["managedFields"] = [{}]
        assert "managedFields" not in stamp("apps/v1", live, cleared)["metadata"]
        scaled = copy.deepcopy(live)
        scaled["spec"]["replicas"] = 3
        assert set(owners(stamp("apps/v1", live, scaled))) == {("a", "Apply"), ("b", "Update")}
    internal = copy.deepcopy(live)
    internal["spec"]["replicas"] = 3
    assert stamp("apps/v1", live, internal)["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_reapply_without_a_list_item_removes_it_unless_another_manager_owns_it() -> None:
    two = deploy()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    live = _applied(None, two, "a")
    one = _applied(live, deploy(), "a")
    assert [c["name"] for c in one["spec"]["template"]["spec"]["containers"]] == ["main"]
    shared = _applied(live, two, "b")
    kept = _applied(shared, deploy(), "a")
    assert [c["name"] for c in kept["spec"]["template"]["spec"]["containers"]] == ["main", "side"]
