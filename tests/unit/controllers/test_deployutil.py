"""Template hash and maxSurge/maxUnavailable arithmetic, as users see them."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest

from controllers.deployment.templatehash import (
    POD_TEMPLATE_HASH_LABEL,
    compute_template_hash,
    find_new_replica_set,
    is_scaling_event,
    max_surge,
    max_unavailable,
    resolve_fenceposts,
    scaled_value,
)
from kubelite.api import PodTemplateSpec
from tests.unit.controllers.builders import TEMPLATE, deployment, replica_set

ROOT = Path(__file__).resolve().parents[3]


def tmpl(data: dict[str, object]) -> PodTemplateSpec:
    return PodTemplateSpec.from_dict(data)


def test_hash_is_short_dns_safe_and_deterministic() -> None:
    h = compute_template_hash(tmpl(TEMPLATE))
    assert h == compute_template_hash(tmpl(copy.deepcopy(TEMPLATE)))
    assert re.fullmatch(r"[a-z0-9]{10}", h)


def test_hash_is_stable_across_processes() -> None:
    code = ("from kubelite.api import PodTemplateSpec; from controllers.deployment.templatehash import compute_template_hash;"
            "from tests.unit.controllers.builders import TEMPLATE;"
            "print(compute_template_hash(PodTemplateSpec.from_dict(TEMPLATE)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == compute_template_hash(tmpl(TEMPLATE))


def test_hash_changes_with_the_template() -> None:
    base = compute_template_hash(tmpl(TEMPLATE))
    changed = copy.deepcopy(TEMPLATE)
    changed["spec"]["containers"][0]["command"] = ["sleep", "2000"]
    relabelled = copy.deepcopy(TEMPLATE)
    relabelled["metadata"]["labels"]["tier"] = "front"
    assert compute_template_hash(tmpl(changed)) != base
    assert compute_template_hash(tmpl(relabelled)) != base


def test_hash_ignores_its_own_label_and_key_order() -> None:
    base = compute_template_hash(tmpl(TEMPLATE))
    labelled = copy.deepcopy(TEMPLATE)
    labelled["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = base
    assert compute_template_hash(tmpl(labelled)) == base
    reordered = {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}
    assert compute_template_hash(tmpl(reordered)) == base


def test_collision_count_changes_the_hash() -> None:
    t = tmpl(TEMPLATE)
    assert len({compute_template_hash(t), compute_template_hash(t, 1), compute_template_hash(t, 2)}) == 3


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [(3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("10%", 1, True, 1),
     ("10%", 1, False, 0), ("100%", 7, False, 7), ("0%", 9, True, 0), ("5", 9, True, 5), (None, 4, True, 0)],
)
def test_scaled_value(value: int | str | None, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, up) == expected


def test_scaled_value_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        scaled_value("lots", 10, True)


def test_fenceposts_never_both_zero() -> None:
    assert resolve_fenceposts(0, 0, 5) == (0, 1)
    assert resolve_fenceposts("0%", "10%", 3) == (0, 1)  # 10% of 3 rounds down to 0 -> 1
    assert resolve_fenceposts("25%", "25%", 4) == (1, 1)


def test_deployment_defaults_are_25_percent() -> None:
    d = deployment(10)
    assert (max_surge(d), max_unavailable(d)) == (3, 2)
    d = deployment(10, surge=0, unavailable="50%")
    assert (max_surge(d), max_unavailable(d)) == (0, 5)


def test_unavailable_is_capped_and_recreate_has_neither() -> None:
    assert max_unavailable(deployment(2, surge=1, unavailable=5)) == 2
    assert max_unavailable(deployment(0)) == 0
    rec = deployment(4, strategy="Recreate")
    assert (max_surge(rec), max_unavailable(rec)) == (0, 0)


def test_new_replica_set_found_by_template_or_hash_label() -> None:
    d = deployment(3)
    h = compute_template_hash(d.spec.template)
    other = copy.deepcopy(TEMPLATE)
    other["spec"]["containers"][0]["image"] = "busybox:1.36"
    old = replica_set("web-old", 3, template=other)
    labelled = copy.deepcopy(TEMPLATE)
    labelled["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = h
    new = replica_set(f"web-{h}", 0, template=labelled, created=5)
    assert find_new_replica_set(d, [old, new], h) is new
    assert find_new_replica_set(d, [old], h) is None
    # a server-defaulted template still matches through its hash label
    defaulted = copy.deepcopy(labelled)
    defaulted["spec"]["restartPolicy"] = "Always"
    same = replica_set(f"web-{h}", 0, template=defaulted)
    assert find_new_replica_set(d, [same], h) is same


def test_scaling_event_is_a_changed_desired_annotation() -> None:
    d = deployment(5)
    rs = replica_set("web-a", 3, annotations={"deployment.kubernetes.io/desired-replicas": "3"})
    assert is_scaling_event(d, [rs])
    rs5 = replica_set("web-a", 5, annotations={"deployment.kubernetes.io/desired-replicas": "5"})
    assert not is_scaling_event(d, [rs5])
    assert not is_scaling_event(d, [replica_set("web-a", 3)])  # no annotation: not ours to judge
