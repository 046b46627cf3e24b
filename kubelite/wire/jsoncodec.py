"""The one JSON codec of API objects: orjson when it is installed, the standard library otherwise.

Why: decoding and encoding JSON is a large share of what the apiserver and its clients spend
per object (a List of 10,000 pods is ~20 MB of JSON); orjson does it several times faster.
Every API-object path goes through `loads`/`dumps` here, so the choice is made once and the
fallback (no orjson, or input orjson refuses) is one code path that a test exercises.

Where the two differ the standard library's answer is kept: input orjson refuses (`NaN`,
lone surrogates, nesting past 1024) is decoded by `json`, with its error messages; values
orjson cannot encode (integers past 64 bits, lone surrogates) are encoded by `json`. Output
is compact UTF-8 either way (`ensure_ascii=False`). One difference remains, accepted for the
speed: an integer past 64 bits decodes as a float (no API field holds one; Int64 fields
refuse it at validation either way).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

_orjson: ModuleType | None
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by forcing `_orjson = None` in the tests
    _orjson = None


def backend() -> str:
    """"orjson" or "json": what `loads`/`dumps` use (shown by the benchmarks)."""
    return "orjson" if _orjson is not None else "json"


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse one JSON document; raises ValueError (json.JSONDecodeError) on bad input."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # the standard library accepts more (NaN) and words its errors as before
    return json.loads(data if isinstance(data, str | bytes | bytearray) else bytes(data))


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON of `obj` (dict keys in insertion order)."""
    if _orjson is not None:
        try:
            encoded: bytes = _orjson.dumps(obj, option=_orjson.OPT_NON_STR_KEYS)
            return encoded
        except TypeError:
            pass  # integers past 64 bits, lone surrogates: the standard library encodes them
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: escape it (\\udXXX) instead
        return json.dumps(obj, separators=(",", ":")).encode()
