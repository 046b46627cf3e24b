"""LazyItems: a typed List's items are built on first read, once, and still behave like the
list they replace (length, indexing, slices, iteration, equality)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubelite.api import ObjectMeta, Pod
from kubelite.api.errors import InternalError
from kubelite.client import ApiClient, LocalTransport
from kubelite.client.lazyitems import LazyItems
from tests.unit.client.fake_apiserver import FakeApiServer


class Counting:
    """decode/build functions that count their calls."""

    def __init__(self) -> None:
        self.decoded = 0
        self.built: list[str] = []

    def decode(self, data: bytes) -> dict[str, Any]:
        self.decoded += 1
        value = json.loads(data)
        assert isinstance(value, dict)
        return value

    def build(self, d: dict[str, Any]) -> Pod:
        pod = Pod.from_dict(d)
        self.built.append(pod.metadata.name or "")
        return pod


def items(names: list[str], counting: Counting) -> LazyItems[Pod]:
    data = [json.dumps(Pod(metadata=ObjectMeta(name=n, namespace="default", resource_version="7")).to_dict()).encode()
            for n in names]
    return LazyItems(data, counting.decode, counting.build)


def test_an_item_is_built_when_first_read_and_only_once() -> None:
    counting = Counting()
    lazy = items(["a", "b", "c"], counting)
    assert len(lazy) == 3 and counting.decoded == 0 and counting.built == []
    first = lazy[1]
    assert first.metadata.name == "b" and counting.built == ["b"]
    assert lazy[1] is first and lazy[-2] is first and counting.built == ["b"]


def test_raw_reads_the_json_without_building_and_the_model_reuses_it() -> None:
    counting = Counting()
    lazy = items(["a", "b"], counting)
    assert lazy.raw(0)["metadata"]["resourceVersion"] == "7"
    assert counting.built == [] and counting.decoded == 1
    assert lazy[0].metadata.resource_version == "7"
    assert counting.decoded == 1  # built from the dict `raw` decoded


def test_reading_every_item_builds_the_missing_ones_and_compares_like_a_list() -> None:
    counting = Counting()
    lazy = items(["a", "b", "c"], counting)
    b = lazy[1]
    assert [p.metadata.name for p in lazy] == ["a", "b", "c"]
    assert sorted(counting.built) == ["a", "b", "c"]  # b was not built twice
    assert list(lazy)[1] is b
    assert [p.metadata.name for p in lazy[::2]] == ["a", "c"]
    assert lazy == list(lazy) and lazy != list(lazy)[:2]
    assert LazyItems([], counting.decode, counting.build) == []
    with pytest.raises(IndexError):
        lazy[3]


def test_a_bad_item_fails_when_read_not_when_listed() -> None:
    def bad(data: bytes) -> dict[str, Any]:
        raise InternalError("apiserver sent undecodable JSON for List")

    lazy: LazyItems[Pod] = LazyItems([b"{"], bad, Pod.from_dict)
    assert len(lazy) == 1
    with pytest.raises(InternalError, match="undecodable"):
        lazy[0]


async def test_client_list_returns_items_built_on_read() -> None:
    client = ApiClient(LocalTransport(FakeApiServer()))
    for name in ("a", "b"):
        await client.create(Pod(metadata=ObjectMeta(name=name)))
    listed = await client.list(Pod, "default")
    assert isinstance(listed.items, LazyItems) and "0 decoded" in repr(listed.items)
    assert [p.metadata.name for p in listed.items] == ["a", "b"]
    assert all(isinstance(p, Pod) for p in listed.items)
    await client.close()
