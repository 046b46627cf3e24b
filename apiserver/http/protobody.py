"""Kubernetes protobuf request bodies of the access kinds, decoded into their JSON form.

Why: kubectl's typed clients (`auth whoami`, `auth can-i`, `create token`) send
these bodies as `application/vnd.kubernetes.protobuf` and, unlike for CBOR,
client-go does not fall back to JSON on a 415. The answer may be JSON (kubectl
accepts either). The wire format is Kubernetes' envelope -- the 4 bytes
`k8s\\0`, then a `runtime.Unknown` {typeMeta, raw} whose `raw` is the object --
and the messages are declared here with the field numbers of k8s.io/api's
generated.proto (facts of the wire format), built with the protobuf library's
descriptor pool rather than parsed by hand. Only the fields these kinds carry
are declared; unknown ones are skipped by the parser.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from kubelite.api.errors import BadRequest

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
PACKAGE = "kubelite.k8sproto"

S, B, I64 = FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_INT64
REPEATED = "repeated"
# message -> [(field, number, scalar type or message name[, "repeated"])]
MESSAGES: dict[str, list[tuple[Any, ...]]] = {
    "TypeMeta": [("apiVersion", 1, S), ("kind", 2, S)],
    "Unknown": [("typeMeta", 1, "TypeMeta"), ("raw", 2, B), ("contentEncoding", 3, S), ("contentType", 4, S)],
    "ObjectMeta": [("name", 1, S), ("generateName", 2, S), ("namespace", 3, S)],
    "ResourceAttributes": [("namespace", 1, S), ("verb", 2, S), ("group", 3, S), ("version", 4, S),
                           ("resource", 5, S), ("subresource", 6, S), ("name", 7, S)],
    "NonResourceAttributes": [("path", 1, S), ("verb", 2, S)],
    "SelfSubjectAccessReviewSpec": [("resourceAttributes", 1, "ResourceAttributes"),
                                    ("nonResourceAttributes", 2, "NonResourceAttributes")],
    "SelfSubjectAccessReview": [("metadata", 1, "ObjectMeta"), ("spec", 2, "SelfSubjectAccessReviewSpec")],
    "SelfSubjectRulesReviewSpec": [("namespace", 1, S)],
    "SelfSubjectRulesReview": [("metadata", 1, "ObjectMeta"), ("spec", 2, "SelfSubjectRulesReviewSpec")],
    "SelfSubjectReview": [("metadata", 1, "ObjectMeta")],
    "BoundObjectReference": [("kind", 1, S), ("apiVersion", 2, S), ("name", 3, S), ("uid", 4, S)],
    "TokenRequestSpec": [("audiences", 1, S, REPEATED), ("boundObjectRef", 3, "BoundObjectReference"),
                         ("expirationSeconds", 4, I64)],
    "TokenRequest": [("metadata", 1, "ObjectMeta"), ("spec", 2, "TokenRequestSpec")],
}
KINDS = frozenset({"SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview", "TokenRequest"})


def _build() -> dict[str, type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(name="kubelite_k8sproto.proto", package=PACKAGE, syntax="proto2")
    for name, fields in MESSAGES.items():
        msg = file.message_type.add(name=name)
        for field_name, number, kind, *rest in fields:
            label = (descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED if rest == [REPEATED]
                     else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            f = msg.field.add(name=field_name, number=number, label=label, json_name=field_name)
            if isinstance(kind, str):
                f.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                f.type_name = f".{PACKAGE}.{kind}"
            else:
                f.type = kind
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in MESSAGES}


_CLASSES = _build()


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == PROTOBUF


def _to_dict(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            out[field.name] = _to_dict(value)
        elif not isinstance(value, str | bytes | int):  # a repeated field's container
            out[field.name] = list(value)
        else:
            out[field.name] = value
    return out


def decode(body: bytes) -> bytes:
    """The JSON form of a protobuf-encoded access object (BadRequest for anything else)."""
    if not body.startswith(MAGIC):
        raise BadRequest("the protobuf body does not start with Kubernetes' 'k8s\\x00' envelope")
    try:
        unknown = _CLASSES["Unknown"].FromString(body[len(MAGIC):])
        type_meta: Any = getattr(unknown, "typeMeta")  # noqa: B009 - a dynamic message class
        kind = str(type_meta.kind)
        if kind not in KINDS:
            raise BadRequest(f"a protobuf body of kind {kind!r} is not supported here (send JSON)")
        obj = _to_dict(_CLASSES[kind].FromString(getattr(unknown, "raw")))  # noqa: B009
    except DecodeError as exc:
        raise BadRequest(f"the protobuf body cannot be decoded: {exc}") from None
    return json.dumps({"apiVersion": str(type_meta.apiVersion), "kind": kind, **obj}).encode()
