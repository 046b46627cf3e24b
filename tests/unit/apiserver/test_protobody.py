"""kubectl's protobuf bodies of the access kinds decode to the JSON the shared handlers read."""

from __future__ import annotations

import json

import pytest

from apiserver.http import protobody
from kubelite.api.errors import BadRequest


def envelope(kind: str, api_version: str, raw: bytes) -> bytes:
    unknown = protobody._CLASSES["Unknown"]()
    unknown.typeMeta.kind, unknown.typeMeta.apiVersion, unknown.raw = kind, api_version, raw  # type: ignore[attr-defined]
    return protobody.MAGIC + unknown.SerializeToString()


def test_token_request_and_access_review_decode() -> None:
    req = protobody._CLASSES["TokenRequest"]()
    req.spec.audiences.extend(["api", "vault"])  # type: ignore[attr-defined]
    req.spec.expirationSeconds = 3600  # type: ignore[attr-defined]
    req.spec.boundObjectRef.kind, req.spec.boundObjectRef.name = "Pod", "web"  # type: ignore[attr-defined]
    doc = json.loads(protobody.decode(envelope("TokenRequest", "authentication.k8s.io/v1", req.SerializeToString())))
    assert doc == {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"audiences": ["api", "vault"], "boundObjectRef": {"kind": "Pod", "name": "web"},
                            "expirationSeconds": 3600}}
    review = protobody._CLASSES["SelfSubjectAccessReview"]()
    review.spec.resourceAttributes.verb, review.spec.resourceAttributes.resource = "list", "pods"  # type: ignore[attr-defined]
    doc = json.loads(protobody.decode(envelope("SelfSubjectAccessReview", "authorization.k8s.io/v1",
                                               review.SerializeToString())))
    assert doc["spec"] == {"resourceAttributes": {"verb": "list", "resource": "pods"}}


def test_bad_protobuf_bodies_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="envelope"):
        protobody.decode(b'{"kind": "TokenRequest"}')
    with pytest.raises(BadRequest, match="'Pod' is not supported"):
        protobody.decode(envelope("Pod", "v1", b""))
    with pytest.raises(BadRequest, match="cannot be decoded"):
        protobody.decode(protobody.MAGIC + b"\x0a\xff\xff")
