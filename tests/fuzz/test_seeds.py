"""Every seed the fuzzers mutate is a valid object of its kind (over gRPC and HTTPS), and every
built-in kind has one -- so the fuzz tests cover all kinds, and a rejection is the mutation's."""

from __future__ import annotations

import json

import pytest

from kubelite.api import registry
from tests.fuzz.harness import Target, fresh_name, namespace_for
from tests.fuzz.seeds import kinds, seed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", kinds())
async def test_every_seed_is_accepted(target: Target, kind: str) -> None:
    ns = namespace_for(kind)
    body = seed(kind, fresh_name())
    code, reason, created = await target.grpc_create(kind, json.dumps(body).encode(), ns)
    assert (code, reason) == (200, ""), f"the {kind} seed was refused over gRPC"
    assert created is not None
    await target.cleanup(kind, created["metadata"]["name"], ns)
    body = seed(kind, fresh_name())
    status, reason, answer = await target.http("POST", target.path(kind, ns) + "?dryRun=All", json.dumps(body).encode())
    assert status == 201, f"the {kind} seed was refused over HTTPS: {answer}"


def test_every_builtin_kind_has_a_seed() -> None:
    assert {info.kind for info in registry.builtin_kinds()} == set(kinds())
