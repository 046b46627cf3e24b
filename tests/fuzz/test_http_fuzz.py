"""Mutated objects of every kind and raw garbage through the Kubernetes HTTPS API.

The same properties as over gRPC: a client error (4xx Status) never a 5xx, nothing
stored by a refused create, nothing changed by a refused update or patch, and the
server still healthy afterwards. Bodies go as JSON, YAML, Kubernetes protobuf (which
kubelite decodes) and unknown media types.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import Target, client_fault, fresh_name, fuzz, namespace_for, user_view
from tests.fuzz.mutations import ENCODINGS, Huge, encode, garbage, mutated
from tests.fuzz.seeds import kinds, seed

pytestmark = pytest.mark.integration
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the pure-Python dumper needs ~10 s per MB

JSON = "application/json"
MEDIA = [JSON, "application/yaml", "application/vnd.kubernetes.protobuf", "text/plain", "", "application/json; x"]
PATCH_MEDIA = ["application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json", "application/apply-patch+yaml"]


def to_yaml(obj: Any) -> bytes:
    """YAML as a user writes it (a str subclass such as Huge dumped as a plain string)."""
    text = json.dumps(obj, allow_nan=True)
    try:
        return yaml.dump(json.loads(text), Dumper=DUMPER, allow_unicode=False).encode()
    except ValueError:
        return text.encode()


@st.composite
def create_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], str, str]:
    kind = draw(st.sampled_from(kinds()))
    media = draw(st.sampled_from([JSON, JSON, JSON, "application/yaml"]))
    return kind, draw(mutated(seed(kind, fresh_name()))), draw(st.sampled_from(ENCODINGS)), media


def body_of(obj: dict[str, Any], style: str, media: str) -> bytes:
    return to_yaml(obj) if media == "application/yaml" else encode(obj, style, "metadata")


@fuzz(max_examples=150)
@given(case=create_case())
async def test_mutated_creates(target: Target, case: tuple[str, dict[str, Any], str, str]) -> None:
    kind, body, style, media = case
    ns = namespace_for(kind)
    before = await target.names(kind, ns)
    status, reason, answer = await target.http("POST", target.path(kind, ns), body_of(body, style, media), media)
    if status < 300:
        assert isinstance(answer, dict), answer
        await target.cleanup(kind, answer["metadata"]["name"], ns)
    else:
        client_fault(status, reason, f"POST {kind}")
        assert not await target.names(kind, ns) - before, "a refused create left an object behind"
    await target.healthy()


@fuzz(max_examples=80)
@given(kind=st.sampled_from(kinds()), data=st.data())
async def test_mutated_updates_and_patches(target: Target, kind: str, data: st.DataObject) -> None:
    ns = namespace_for(kind)
    status, reason, stored = await target.http("POST", target.path(kind, ns), json.dumps(seed(kind, fresh_name())).encode())
    assert status == 201, f"the {kind} seed was refused: {stored}"
    name = stored["metadata"]["name"]
    try:
        method = data.draw(st.sampled_from(["PUT", "PUT", "PATCH"]))
        body = data.draw(mutated(stored))
        media = data.draw(st.sampled_from(PATCH_MEDIA)) if method == "PATCH" else JSON
        if media == "application/json-patch+json":
            raw = json.dumps([{"op": "replace", "path": "", "value": body},
                              {"op": data.draw(st.sampled_from(["add", "remove", "test", "move", "bogus"])),
                               "path": data.draw(st.sampled_from(["/spec", "/metadata/name", "/x/y", "", "/~2"])),
                               "value": data.draw(st.sampled_from([None, 1, "x", Huge("p" * 2000)]))}][
                data.draw(st.integers(0, 1)):]).encode()
        elif media == "application/apply-patch+yaml":
            raw = to_yaml(body)
        else:
            raw = encode(body, data.draw(st.sampled_from(ENCODINGS)))
        path = target.path(kind, ns, name) + ("?fieldManager=fuzz" if media.startswith("application/apply") else "")
        status, reason, _ = await target.http(method, path, raw, media)
        if status >= 300:
            client_fault(status, reason, f"{method} {kind} ({media})")
            assert user_view(await target.stored(kind, name, ns)) == user_view(stored), \
                "a refused update changed the stored object"
    finally:
        await target.cleanup(kind, name, ns)
    await target.healthy()


@fuzz(max_examples=150)
@given(method=st.sampled_from(["POST", "PUT", "PATCH", "GET", "DELETE"]),
       kind=st.sampled_from(kinds()),
       name=st.one_of(st.just(""), st.just("fz-raw"), st.text(st.characters(max_codepoint=127), max_size=80)),
       suffix=st.sampled_from(["", "/status", "/scale", "/bogus",
                               "?dryRun=All", "?fieldValidation=Strict", "?fieldValidation=Nonsense",
                               "?labelSelector=a%3D%3D%3D", "?limit=-1", "?limit=99999999999999999999",
                               "?resourceVersion=abc", "?timeoutSeconds=1e9"]),
       media=st.sampled_from(MEDIA + PATCH_MEDIA),
       body=garbage)
async def test_garbage_requests(target: Target, method: str, kind: str, name: str, suffix: str, media: str,
                                body: bytes) -> None:
    ns = namespace_for(kind)
    path = target.path(kind, ns, quote(name, safe="")) + suffix
    status, reason, answer = await target.http(method, path, body if method != "GET" else None, media)
    client_fault(status, reason, f"{method} {path} ({media})")
    await target.healthy()
