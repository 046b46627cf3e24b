"""Kind registry names/decoding, and errors as Kubernetes Status objects."""

from __future__ import annotations

import json

import pytest

from kubelite.api import (
    ConfigMap,
    Deployment,
    Endpoints,
    Lease,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Service,
    registry,
)
from kubelite.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    ServiceUnavailable,
    StatusCause,
    Timeout,
)


@pytest.mark.parametrize("name,kind", [
    ("Deployment", "Deployment"), ("deployment", "Deployment"), ("deployments", "Deployment"),
    ("deploy", "Deployment"), ("deployment.apps", "Deployment"), ("deployments.apps", "Deployment"),
    ("DEPLOYMENTS", "Deployment"), ("po", "Pod"), ("pods", "Pod"), ("rs", "ReplicaSet"),
    ("svc", "Service"), ("ep", "Endpoints"), ("endpoints", "Endpoints"), ("no", "Node"), ("ns", "Namespace"),
    ("cm", "ConfigMap"), ("ev", "Event"), ("secrets", "Secret"), ("lease", "Lease"),
    ("leases.coordination.k8s.io", "Lease"),
])
def test_lookup_accepts_every_spelling(name: str, kind: str) -> None:
    assert registry.lookup(name).kind == kind


def test_kind_info_fields() -> None:
    info = registry.lookup("deploy")
    assert (info.kind, info.api_version, info.group, info.resource, info.namespaced, info.model) == (
        "Deployment", "apps/v1", "apps", "deployments", True, Deployment)
    assert "deploy" in info.short_names
    node = registry.for_model(Node)
    assert node.namespaced is False and node.group == "" and node.resource == "nodes"
    assert registry.for_model(Namespace).namespaced is False
    assert registry.lookup("lease").short_names == ()
    kinds = {i.kind for i in registry.all_kinds()}
    assert {"Pod", "Deployment", "ReplicaSet", "Service", "Endpoints", "Node", "Namespace", "ConfigMap",
            "Secret", "Event", "Lease"} <= kinds
    for info in registry.all_kinds():
        assert info.model().api_version == info.api_version and info.model().kind == info.kind


def test_lookup_unknown_name() -> None:
    with pytest.raises(NotFound, match='resource type "widgets"'):
        registry.lookup("widgets")
    assert registry.find("widgets") is None


def test_decode_dispatches_by_api_version_and_kind() -> None:
    obj = registry.decode({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}})
    assert isinstance(obj, ReplicaSet) and obj.metadata.name == "r"
    assert isinstance(registry.decode({"apiVersion": "v1", "kind": "Endpoints"}), Endpoints)
    assert isinstance(registry.decode({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}), Lease)


def test_decode_errors_are_clear() -> None:
    with pytest.raises(Invalid) as missing:
        registry.decode({"apiVersion": "v1", "metadata": {"name": "x"}})
    assert [c.field for c in missing.value.causes] == ["kind"]
    with pytest.raises(BadRequest) as unknown:
        registry.decode({"apiVersion": "v1", "kind": "Foo"})
    assert str(unknown.value) == 'no kind "Foo" is registered for version "v1"'
    with pytest.raises(BadRequest) as wrong:
        registry.decode({"apiVersion": "v1", "kind": "Deployment"})
    assert 'no kind "Deployment" is registered for version "v1"' in str(wrong.value)
    assert "apps/v1" in str(wrong.value)
    with pytest.raises(BadRequest):
        registry.decode("just text")
    with pytest.raises(Invalid) as bad:
        registry.decode({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"bogus": 1}})
    assert bad.value.causes[0].field == "spec.bogus"


def test_status_round_trip_picks_the_right_subclass() -> None:
    for cls, code in [(NotFound, 404), (AlreadyExists, 409), (Conflict, 409), (Invalid, 422), (Expired, 410),
                      (BadRequest, 400), (Forbidden, 403), (InternalError, 500), (ServiceUnavailable, 503),
                      (Timeout, 504)]:
        err = cls("boom", [StatusCause("spec.x", "bad")], name="n", kind="pods")
        status = json.loads(json.dumps(err.to_status()))
        assert status["kind"] == "Status" and status["apiVersion"] == "v1" and status["status"] == "Failure"
        assert status["code"] == code and status["reason"] == cls.REASON and status["message"] == "boom"
        assert status["details"] == {"name": "n", "kind": "pods",
                                     "causes": [{"field": "spec.x", "message": "bad", "reason": "FieldValueInvalid"}]}
        back = ApiError.from_status(status)
        assert type(back) is cls and back.code == code and back.causes == err.causes
        assert str(back) == "boom" and back.name == "n"


def test_from_status_falls_back_to_code_then_generic() -> None:
    assert isinstance(ApiError.from_status({"code": 404, "message": "gone"}), NotFound)
    assert isinstance(ApiError.from_status({"reason": "Gone", "code": 410}), Expired)
    odd = ApiError.from_status({"reason": "SomethingNew", "code": 429, "message": "slow down"})
    assert type(odd) is ApiError and odd.reason == "SomethingNew" and odd.code == 429
    assert str(ApiError.from_status({})) == "unknown error"


def test_helpful_constructors_use_kubernetes_wording() -> None:
    nf = NotFound.for_object("Deployment", "web")
    assert str(nf) == 'deployments.apps "web" not found' and nf.to_status()["details"]["kind"] == "deployments"
    assert str(NotFound.for_object("pods", "p")) == 'pods "p" not found'
    assert str(AlreadyExists.for_object("svc", "s")) == 'services "s" already exists'
    assert str(Conflict.for_object("configmaps", "c")).startswith('Operation cannot be fulfilled on configmaps "c"')
    one = Invalid.for_object("Deployment", "web", [StatusCause.invalid("spec.replicas", -1,
                                                                       "must be greater than or equal to 0")])
    assert str(one) == ('Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
                        "must be greater than or equal to 0")
    two = Invalid.for_object("Pod", "p", [StatusCause.required("spec.containers"),
                                          StatusCause.not_supported("spec.restartPolicy", "Sometimes",
                                                                    ["Always", "Never"])])
    assert str(two).splitlines() == ['Pod "p" is invalid:', "* spec.containers: Required value",
                                     '* spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
                                     '"Always", "Never"']
    assert Invalid(causes=[StatusCause.required("kind")]).message == "object is invalid: kind: Required value"


def test_models_survive_json_for_every_kind() -> None:
    for cls in (Pod, Deployment, Service, ConfigMap):
        obj = cls()
        assert cls.from_dict(json.loads(json.dumps(obj.to_dict()))) == obj
