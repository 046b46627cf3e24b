"""Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), read as JSON data.

Why: the typed clients of client-go 1.32 prefer protobuf, so real kubectl sends its `create
deployment|service|configmap|secret|namespace`, `auth can-i` and `drain` bodies that way, and only
falls back to JSON on 415 for CBOR, never for protobuf. The typed core works on JSON, so this module
turns such a body into exactly the JSON document the same client would have sent: the envelope
(`k8s\\0` + `runtime.Unknown{typeMeta, raw}`) gives apiVersion and kind, and `raw` is decoded by the
field numbers in `protobuf_schema.json` (made by tools/gen_protobuf_schema.py from the API types'
struct tags). Go's protobuf encoder writes every non-pointer field, zero or not, so zero scalars of
fields that Go's JSON would omit (`omitempty`, not a pointer) are dropped again. A field number the
schema does not know is refused (400) naming the message and number, never silently dropped.

Responses stay JSON: these clients accept `application/vnd.kubernetes.protobuf,application/json`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubelite.api.errors import BadRequest

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
SCHEMA_FILE = Path(__file__).with_name("protobuf_schema.json")
Field = list[str]  # [jsonName, type, *flags]


@functools.cache
def _schema() -> tuple[dict[str, str], dict[str, dict[int, Field]]]:
    data = json.loads(SCHEMA_FILE.read_text())
    messages = {name: {int(n): spec for n, spec in fields.items()} for name, fields in data["messages"].items()}
    return data["roots"], messages


# ---- the wire format ---------------------------------------------------------------------------

def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BadRequest("the protobuf body is truncated (inside a varint)")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BadRequest("the protobuf body has a varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value): an int for varints, bytes for everything else."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise BadRequest(f"the protobuf body is truncated (field {number} wants {size} bytes)")
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise BadRequest(f"the protobuf body uses wire type {wire} (field {number}), which Kubernetes never sends")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: int | bytes, where: str) -> str:
    if not isinstance(value, bytes):
        raise BadRequest(f"protobuf field {where} must be length-delimited")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise BadRequest(f"protobuf field {where} is not valid UTF-8") from None


def _sub(value: int | bytes, where: str) -> dict[int, int | bytes]:
    if not isinstance(value, bytes):
        raise BadRequest(f"protobuf field {where} must be a message")
    return {n: v for n, _, v in fields(value)}


def _int(parts: dict[int, int | bytes], number: int, where: str) -> int:
    value = parts.get(number, 0)
    if not isinstance(value, int):
        raise BadRequest(f"protobuf field {where} must be a varint")
    return _signed(value)


def _bytes(parts: dict[int, int | bytes], number: int, where: str) -> bytes:
    value = parts.get(number, b"")
    if not isinstance(value, bytes):
        raise BadRequest(f"protobuf field {where} must be length-delimited")
    return value


# ---- typed values ------------------------------------------------------------------------------

def _time(value: int | bytes, where: str) -> str | None:
    parts = _sub(value, where)
    seconds, nanos = _int(parts, 1, where), _int(parts, 2, where)
    if not seconds and not nanos:
        return None  # Go's zero time: absent in JSON
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}".rstrip("0") + "Z" if nanos else f"{stamp}Z"


def _scalar(kind: str, wire: int, value: int | bytes, where: str) -> Any:
    if kind == "string":
        return _text(value, where)
    if kind in ("int", "bool"):
        if not isinstance(value, int):
            raise BadRequest(f"protobuf field {where} must be a varint")
        return bool(value) if kind == "bool" else _signed(value)
    if kind == "bytes":
        if not isinstance(value, bytes):
            raise BadRequest(f"protobuf field {where} must be length-delimited")
        return base64.b64encode(value).decode()
    if kind == "double":
        if not isinstance(value, bytes) or len(value) != 8:
            raise BadRequest(f"protobuf field {where} must be a 64-bit float")
        return struct.unpack("<d", value)[0]
    if kind == "time":
        return _time(value, where)
    if kind == "quantity":
        return _text(_sub(value, where).get(1, b""), where)
    if kind == "intorstr":
        parts = _sub(value, where)
        return _text(_bytes(parts, 3, where), where) if _int(parts, 1, where) == 1 else _int(parts, 2, where)
    if kind == "duration":
        return f"{_int(_sub(value, where), 1, where) / 1e9:g}s"
    if kind == "rawjson":
        raw = _bytes(_sub(value, where), 1, where)
        try:
            return json.loads(raw) if raw else None
        except (ValueError, TypeError):
            raise BadRequest(f"protobuf field {where} does not hold JSON") from None
    return message(value, kind)


def _zero(value: Any) -> bool:
    return value in ("", 0, False, None) and not isinstance(value, float | dict | list)


def message(data: int | bytes, name: str) -> dict[str, Any]:
    """The JSON form of one encoded message of the schema's type `name` (e.g. "apps.Deployment")."""
    schema = _schema()[1].get(name)
    if schema is None:
        raise BadRequest(f"protobuf message {name} is not supported by this server; send JSON")
    if not isinstance(data, bytes):
        raise BadRequest(f"a protobuf {name} must be a message (length-delimited), got a varint")
    out: dict[str, Any] = {}
    for number, wire, value in fields(data):
        spec = schema.get(number)
        if spec is None:
            raise BadRequest(f"protobuf field {number} of {name} is not known to this server; send the object as JSON")
        json_name, kind, flags = spec[0], spec[1], spec[2:]
        where = f"{name}.{json_name or kind}"
        if "map" in flags:
            entry = _sub(value, where)
            key = _text(entry.get(1, b""), where)
            out.setdefault(json_name, {})[key] = _map_value(kind, entry.get(2, b""), where)
        elif "rep" in flags and kind == "int" and wire == 2 and isinstance(value, bytes):
            out.setdefault(json_name, []).extend(_signed(v) for v in _packed(value))
        elif "rep" in flags:
            out.setdefault(json_name, []).append(_scalar(kind, wire, value, where))
        elif "inline" in flags:
            out.update(message(value, kind))
        else:
            out[json_name] = _scalar(kind, wire, value, where)
    for spec in schema.values():
        json_name, flags = spec[0], spec[2:]
        if json_name in out and "omitempty" in flags and "ptr" not in flags and _zero(out[json_name]):
            del out[json_name]
        elif json_name in out and out[json_name] is None:
            del out[json_name]
    return out


def _map_value(kind: str, value: int | bytes, where: str) -> Any:
    if kind.startswith("list:"):
        return [_scalar(kind[5:], 2, v, where) for n, _, v in fields(value if isinstance(value, bytes) else b"")
                if n == 1]
    return _scalar(kind, 2 if isinstance(value, bytes) else 0, value, where)


def _packed(data: bytes) -> Iterator[int]:
    pos = 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        yield value


def decode(body: bytes) -> dict[str, Any]:
    """A whole request body: the `runtime.Unknown` envelope and the object in it, as JSON data."""
    if not body.startswith(MAGIC):
        raise BadRequest("the protobuf body does not start with the Kubernetes magic number k8s\\0")
    envelope = {n: v for n, _, v in fields(body[len(MAGIC):])}
    type_meta = _sub(envelope.get(1, b""), "Unknown.typeMeta")
    api_version = _text(type_meta.get(1, b""), "TypeMeta.apiVersion")
    kind = _text(type_meta.get(2, b""), "TypeMeta.kind")
    encoding = _text(envelope.get(3, b""), "Unknown.contentEncoding")
    if encoding:
        raise BadRequest(f"protobuf content encoding {encoding!r} is not supported")
    root = _schema()[0].get(f"{api_version}/{kind}")
    if root is None:
        raise BadRequest(f"{api_version} {kind} cannot be sent as protobuf to this server; send it as JSON")
    obj = message(envelope.get(2, b""), root)
    return {"apiVersion": api_version, "kind": kind, **obj}
