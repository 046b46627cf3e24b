"""Kubernetes protobuf request bodies read as the JSON the same client would have sent.

The bodies are built here with a minimal encoder the way Go's generated marshallers write them:
every non-pointer field, zero or not; pointer fields only when set.
"""

from __future__ import annotations

import pytest

from apiserver.http import protobuf
from apiserver.http.handlers import decode_document
from kubelite.api.errors import BadRequest


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def f_int(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def f_bytes(number: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return f_bytes(number, f_bytes(1, key) + f_bytes(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = f_bytes(1, api_version) + f_bytes(2, kind)
    return protobuf.MAGIC + f_bytes(1, type_meta) + f_bytes(2, raw) + f_bytes(3, "") + f_bytes(4, "")


def object_meta(name: str, **labels: str) -> bytes:
    meta = f_bytes(1, name) + f_bytes(2, "") + f_bytes(3, "") + f_int(7, 0) + f_bytes(8, f_int(1, 0) + f_int(2, 0))
    return meta + b"".join(entry(11, k, v) for k, v in labels.items())


def test_a_deployment_as_kubectl_create_sends_it() -> None:
    port = f_bytes(1, "") + f_int(2, 0) + f_int(3, 8080) + f_bytes(4, "TCP")
    container = f_bytes(1, "busybox") + f_bytes(2, "busybox") + f_bytes(3, "sleep") + f_bytes(3, "3600") + \
        f_bytes(6, port) + f_bytes(8, b"") + f_bytes(14, "") + f_int(16, 0)
    pod_spec = f_bytes(2, container) + f_bytes(3, "") + f_int(11, 0)
    template = f_bytes(1, object_meta("", app="dep")) + f_bytes(2, pod_spec)
    selector = entry(1, "app", "dep")
    spec = f_int(1, 0) + f_bytes(2, selector) + f_bytes(3, template) + f_bytes(4, b"") + f_int(5, 0) + f_int(7, 0)
    body = envelope("apps/v1", "Deployment", f_bytes(1, object_meta("dep", app="dep")) + f_bytes(2, spec) +
                    f_bytes(3, b""))
    assert decode_document(body, "application/vnd.kubernetes.protobuf") == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "dep", "labels": {"app": "dep"}},
        "spec": {
            "replicas": 0,  # a pointer: set to 0 is kept (Go's JSON would say 0 too)
            "selector": {"matchLabels": {"app": "dep"}},
            "template": {"metadata": {"labels": {"app": "dep"}}, "spec": {"containers": [{
                "name": "busybox", "image": "busybox", "command": ["sleep", "3600"],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": {}}]}},
            "strategy": {},
        },
        "status": {},
    }


def test_secret_bytes_int_or_string_and_times() -> None:
    secret = envelope("v1", "Secret", f_bytes(1, object_meta("s")) + entry(2, "pw", b"\x00\xff") + f_bytes(3, "Opaque"))
    assert protobuf.decode(secret)["data"] == {"pw": "AP8="}
    port = f_bytes(1, "web") + f_bytes(2, "TCP") + f_int(3, 80) + f_bytes(4, f_int(1, 1) + f_int(2, 0) + f_bytes(3, "http"))
    service = envelope("v1", "Service", f_bytes(1, object_meta("svc")) + f_bytes(2, f_bytes(1, port)))
    assert protobuf.decode(service)["spec"]["ports"] == [{"name": "web", "protocol": "TCP", "port": 80,
                                                          "targetPort": "http"}]
    meta = f_bytes(1, "t") + f_bytes(8, f_int(1, 1_700_000_000) + f_int(2, 500_000_000)) + f_int(10, 0)
    decoded = protobuf.decode(envelope("v1", "ConfigMap", f_bytes(1, meta)))["metadata"]
    assert decoded == {"name": "t", "creationTimestamp": "2023-11-14T22:13:20.5Z", "deletionGracePeriodSeconds": 0}


def test_a_self_subject_access_review() -> None:
    attrs = f_bytes(1, "default") + f_bytes(2, "create") + f_bytes(3, "") + f_bytes(5, "pods")
    review = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                      f_bytes(1, object_meta("")) + f_bytes(2, f_bytes(1, attrs)) + f_bytes(3, f_int(1, 0)))
    assert protobuf.decode(review)["spec"] == {"resourceAttributes": {"namespace": "default", "verb": "create",
                                                                      "resource": "pods"}}


@pytest.mark.parametrize(("body", "message"), [
    (b"{}", "magic number"),
    (envelope("v1", "Widget", b""), "v1 Widget cannot be sent as protobuf"),
    (envelope("v1", "ConfigMap", f_bytes(1, object_meta("x")) + f_int(99, 1)), "field 99 of core.ConfigMap"),
    (envelope("v1", "ConfigMap", f_bytes(1, b"\x0a\x05ab")), "truncated"),
    (envelope("v1", "ConfigMap", f_int(1, 5)), "must be a message"),
])
def test_bad_bodies_are_refused_with_the_reason(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        protobuf.decode(body)
