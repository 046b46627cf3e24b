"""Mutated objects of every kind and raw garbage through the gRPC API.

Properties: bad input is a client error (4xx Status), never a 500/INTERNAL; a refused
create stores nothing; a refused update leaves the stored object exactly as it was;
the server still answers afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.pb.kubelite import api_pb2
from tests.fuzz.harness import Target, client_fault, fresh_name, fuzz, namespace_for, user_view
from tests.fuzz.mutations import CHARS, ENCODINGS, encode, garbage, mutated
from tests.fuzz.seeds import kinds, seed

pytestmark = pytest.mark.integration


@st.composite
def create_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """(kind, mutated object, encoding) -- printed as such when a property fails."""
    kind = draw(st.sampled_from(kinds()))
    return kind, draw(mutated(seed(kind, fresh_name()))), draw(st.sampled_from(ENCODINGS))


@fuzz(max_examples=160)
@given(case=create_case())
async def test_mutated_creates(target: Target, case: tuple[str, dict[str, Any], str]) -> None:
    kind, body, style = case
    ns = namespace_for(kind)
    before = await target.names(kind, ns)
    code, reason, created = await target.grpc_create(kind, encode(body, style, "metadata"), ns)
    if code == 200:
        assert created is not None
        await target.cleanup(kind, created["metadata"]["name"], ns)
    else:
        client_fault(code, reason, f"Create {kind}")
        assert not await target.names(kind, ns) - before, "a refused create left an object behind"
    await target.healthy()


@fuzz(max_examples=100)
@given(kind=st.sampled_from(kinds()), data=st.data())
async def test_mutated_updates(target: Target, kind: str, data: st.DataObject) -> None:
    ns = namespace_for(kind)
    code, reason, stored = await target.grpc_create(kind, json.dumps(seed(kind, fresh_name())).encode(), ns)
    assert code == 200 and stored is not None, f"the {kind} seed was refused: {code} {reason}"
    name = stored["metadata"]["name"]
    try:
        body = data.draw(mutated(stored))
        code, reason, _ = await target.grpc_update(kind, name, encode(body, data.draw(st.sampled_from(ENCODINGS))), ns)
        if code != 200:
            client_fault(code, reason, f"Update {kind}")
            assert user_view(await target.stored(kind, name, ns)) == user_view(stored), \
                "a refused update changed the stored object"
    finally:
        await target.cleanup(kind, name, ns)
    await target.healthy()


@fuzz(max_examples=100)
@given(method=st.sampled_from(["Create", "Update"]),
       resource=st.one_of(st.sampled_from(["pods", "deployments", "configmaps", "nodes", "namespaces", "services",
                                           "customresourcedefinitions", "pods/status", "deployments/scale",
                                           "selfsubjectaccessreviews", "selfsubjectreviews",
                                           "selfsubjectrulesreviews", "pods/eviction",
                                           "certificatesigningrequests/approval"]),
                          st.text(CHARS, max_size=30)),
       namespace=st.one_of(st.just("fuzz"), st.just(""), st.text(CHARS, max_size=70)),
       name=st.one_of(st.just("fz-raw"), st.just(""), st.text(CHARS, max_size=300)),
       body=garbage)
async def test_garbage_requests(target: Target, method: str, resource: str, namespace: str, name: str,
                                body: bytes) -> None:
    if method == "Create":
        request = api_pb2.CreateRequest(resource=resource, namespace=namespace, json=body)
    else:
        request = api_pb2.UpdateRequest(resource=resource, namespace=namespace, name=name, json=body)
    code, reason, _ = await target.grpc(method, request)
    if code != 200:
        client_fault(code, reason, f"{method} {resource!r}")
    await target.healthy()
