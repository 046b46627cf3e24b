"""Where and how objects live in the kvstore.

Layout (ARCHITECTURE.md "Storage layout"): key `/registry/<resource>/<ns>/<name>`
(cluster-scoped: `/registry/<resource>/<name>`), value = the object's JSON.
`metadata.resourceVersion` is never trusted from the stored bytes: it is the
key's mod_revision, stamped on every read. That makes the version exact and
free — etcd already keeps it — and a compare on it is the optimistic lock.

Also here: continue tokens for paginated lists, which carry the revision of
the first page and the next key so later pages read one consistent snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from apiserver.etcd import KeyValue
from kubelite.api.errors import BadRequest
from kubelite.wire import jsoncodec

REGISTRY = "/registry/"
MAX_OBJECT_BYTES = 1536 * 1024 - 4096
"""An object's stored JSON at most: etcd's (and our kvstore's) 1.5 MiB request limit, less room for
the key, the transaction around it and encryption at rest, so the store never refuses what passed here."""


class ObjectTooLarge(Exception):
    """An object whose stored form exceeds MAX_OBJECT_BYTES; the service names the object."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the stored object has {size} bytes")
        self.size = size


def resource_prefix(resource: str) -> str:
    return f"{REGISTRY}{resource}/"


def list_prefix(resource: str, namespace: str = "") -> str:
    """Prefix of a List: one namespace, or the whole resource when `namespace` is empty."""
    return f"{REGISTRY}{resource}/{namespace}/" if namespace else resource_prefix(resource)


def object_key(resource: str, namespace: str, name: str) -> str:
    if namespace:
        return f"{REGISTRY}{resource}/{namespace}/{name}"
    return f"{REGISTRY}{resource}/{name}"


def split_key(resource: str, key: str) -> tuple[str, str]:
    """(namespace, name) of a key of `resource`; namespace is "" for cluster-scoped keys."""
    prefix = resource_prefix(resource)
    if not key.startswith(prefix):
        raise ValueError(f"key {key!r} is not under {prefix!r}")
    rest = key[len(prefix):]
    ns, sep, name = rest.partition("/")
    return (ns, name) if sep else ("", ns)


def encode_value(obj: dict[str, Any]) -> bytes:
    """The stored form: the object's JSON without its resourceVersion (the key's revision is the truth).

    Raises ObjectTooLarge past MAX_OBJECT_BYTES: checked here, where every write encodes,
    so no kind's write path can store an object the kvstore and watchers would choke on.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    value = jsoncodec.dumps(obj)
    if len(value) > MAX_OBJECT_BYTES:
        raise ObjectTooLarge(len(value))
    return value


def decode_value(value: bytes, mod_revision: int) -> dict[str, Any]:
    """Parse a stored object and stamp metadata.resourceVersion = mod_revision."""
    obj = jsoncodec.loads(value)
    if not isinstance(obj, dict):
        raise ValueError("stored value is not a JSON object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    meta["resourceVersion"] = str(mod_revision)
    return obj


def dump(obj: dict[str, Any]) -> bytes:
    """The wire form of an object (compact JSON)."""
    return jsoncodec.dumps(obj)


@dataclass(slots=True)
class StoredObject:
    """One object as read from the store: parsed (for selectors and updates) and serialized (for the wire).

    `obj` carries metadata.resourceVersion = `rv`; treat both as read-only,
    they may be shared by the watch cache and many responses.
    """

    key: str
    namespace: str
    name: str
    rv: int
    obj: dict[str, Any]
    raw: bytes
    node_name: str = ""

    @property
    def labels(self) -> dict[str, str]:
        labels = self.obj.get("metadata", {}).get("labels")
        return labels if isinstance(labels, dict) else {}


def stored(key: str, namespace: str, name: str, rv: int, obj: dict[str, Any]) -> StoredObject:
    """Wrap an object dict (whose resourceVersion is already `rv`)."""
    spec = obj.get("spec")
    node = spec.get("nodeName", "") if isinstance(spec, dict) else ""
    return StoredObject(key, namespace, name, rv, obj, dump(obj), node if isinstance(node, str) else "")


def from_kv(resource: str, kv: KeyValue) -> StoredObject:
    """Parse a stored value and stamp its resourceVersion; raises ValueError on garbage
    or on a value the storage layer could not decrypt."""
    if kv.error:
        raise ValueError(kv.error)
    obj = decode_value(kv.value, kv.mod_revision)
    ns, name = split_key(resource, kv.key)
    return stored(kv.key, ns, name, kv.mod_revision, obj)


def with_rv(obj: dict[str, Any], rv: int) -> dict[str, Any]:
    """A shallow copy of `obj` whose metadata.resourceVersion is `rv`."""
    return {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(rv)}}


def parse_resource_version(text: str, what: str = "resourceVersion") -> int:
    """A resourceVersion as an int; anything but a non-negative decimal is a BadRequest."""
    if not text.isdigit():
        raise BadRequest(f'invalid {what} "{text}": must be a non-negative integer')
    return int(text)


@dataclass(frozen=True, slots=True)
class ContinueToken:
    """Where the next page of a List starts: snapshot revision + first key (relative to the resource)."""

    revision: int
    start: str  # key relative to /registry/<resource>/, inclusive

    def encode(self) -> str:
        raw = json.dumps({"v": "kubelite/v1", "rv": self.revision, "start": self.start}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> ContinueToken:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(data, dict) or data.get("v") != "kubelite/v1":
                raise ValueError("bad version")
            rv, start = data["rv"], data["start"]
            if not isinstance(rv, int) or rv <= 0 or not isinstance(start, str) or not start:
                raise ValueError("bad fields")
            if start.startswith("/") or ".." in start.split("/"):
                raise ValueError("bad start key")
        except (ValueError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest(f"continue key is not valid: {exc}") from None
        return cls(rv, start)


def next_key(key: str) -> str:
    """The smallest key greater than `key` (for resuming a range after it)."""
    return key + "\x00"
