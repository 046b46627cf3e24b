"""fieldValidation=Warn|Ignore drops unknown fields; Strict leaves them to be refused."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.fieldvalidation import FieldPolicy, parse_mode, remove_dotted
from kubelite.api import registry
from kubelite.api.errors import BadRequest

DEPLOYMENTS = registry.lookup("deployments")


def body() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "bogus": 1},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "replicas": "x",
                     "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagee": "j"}]}}}}


def test_warn_drops_unknown_fields_keeps_other_errors_and_warns() -> None:
    policy = FieldPolicy("Warn")
    obj = body()
    policy.drop_unknown(DEPLOYMENTS, obj)
    assert "bogus" not in obj["metadata"]
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "i"}]
    assert obj["spec"]["replicas"] == "x"  # a wrong type is not unknown: validation reports it
    assert policy.warnings() == ['299 - "unknown field \\"metadata.bogus\\""',
                                 '299 - "unknown field \\"spec.template.spec.containers[0].imagee\\""']


@pytest.mark.parametrize("mode,dropped,warnings", [("Strict", False, 0), ("Ignore", True, 0), ("Warn", True, 1)])
def test_modes(mode: str, dropped: bool, warnings: int) -> None:
    policy = FieldPolicy(mode)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "extra": 1}
    policy.drop_unknown(registry.lookup("configmaps"), obj)
    assert ("extra" not in obj) is dropped
    assert len(policy.warnings()) == warnings


@pytest.mark.parametrize("path,found,left", [
    ("a.b", True, {"a": {}, "l": [{"x": 1}, {"y": 2}], "m": {"k.e.y": 1}}),
    ("l[1]", True, {"a": {"b": 1}, "l": [{"x": 1}], "m": {"k.e.y": 1}}),
    ("l[0].x", True, {"a": {"b": 1}, "l": [{}, {"y": 2}], "m": {"k.e.y": 1}}),
    ("m[k.e.y]", True, {"a": {"b": 1}, "l": [{"x": 1}, {"y": 2}], "m": {}}),
    ("l[7]", False, None), ("a.z.q", False, None), ("l[x]", False, None),
])
def test_remove_dotted(path: str, found: bool, left: Any) -> None:
    obj = {"a": {"b": 1}, "l": [{"x": 1}, {"y": 2}], "m": {"k.e.y": 1}}
    assert remove_dotted(obj, path) is found
    if found:
        assert obj == left


def test_parse_mode() -> None:
    assert parse_mode("") == "Warn"  # Kubernetes' default when a client sends none
    assert parse_mode("Strict") == "Strict"
    with pytest.raises(BadRequest, match='invalid fieldValidation value "Loose"'):
        parse_mode("Loose")
