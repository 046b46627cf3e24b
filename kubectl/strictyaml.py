"""Manifest decoding that refuses duplicate keys, in YAML and in JSON.

Why: PyYAML and the json module keep the last of two equal keys without a word,
so `name: a` followed by `name: b` in one mapping silently applied an object
the author did not write. kubectl refuses such documents (`key "name" already
set in map`); kctl does too, naming the line of both occurrences.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from kubelite.api.yamlio import SafeLoader

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(ValueError):
    """A JSON object with the same key twice."""


class StrictSafeLoader(SafeLoader):  # type: ignore[valid-type,misc]
    """yaml.SafeLoader that raises a ConstructorError for a key given twice in one mapping.

    `<<` merge keys are exempt: keys merged in may be overridden by the mapping's own keys."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                    if first is None:
                        seen[key] = key_node.start_mark.line + 1
                        continue
                except TypeError:
                    continue  # unhashable key: the base constructor reports it
                raise ConstructorError(None, None, f'key "{key}" already set in map (first set at line {first})',
                                       key_node.start_mark)
        mapping: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def safe_load_all(text: str) -> Iterator[Any]:
    """Every document of `text`, like yaml.safe_load_all but refusing duplicate keys."""
    return yaml.load_all(text, Loader=StrictSafeLoader)  # noqa: S506 (a SafeLoader subclass)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(f'duplicate key "{key}" in a JSON object')
        out[key] = value
    return out


def json_loads(text: str) -> Any:
    """json.loads that raises DuplicateKeyError for a key repeated in one object."""
    return json.loads(text, object_pairs_hook=_pairs)
