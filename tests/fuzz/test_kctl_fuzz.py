"""`kctl apply -f` on mutated manifest files against the fuzz apiserver.

Properties: exit 0 or 1 only; never a Python traceback, not even the catch-all's
"kctl failed unexpectedly" (KCTL_DEBUG=1 makes such a bug raise here); a failure
says `error: <file>: document N ...` (local checks) or `Error from server (...)`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import Target, fresh_name, fuzz, namespace_for
from tests.fuzz.mutations import CHARS, mutated
from tests.fuzz.seeds import kinds, seed
from tests.integration.kubectl.test_kctl import Kctl

pytestmark = pytest.mark.integration
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the pure-Python dumper needs ~10 s per MB


def as_yaml(obj: Any) -> str:
    try:
        return yaml.dump(json.loads(json.dumps(obj)), Dumper=DUMPER, allow_unicode=True)
    except ValueError:
        return json.dumps(obj)


@st.composite
def manifest_file(draw: st.DrawFn) -> tuple[str, str, str]:
    """(kind, file suffix, file text): one or two mutated documents, maybe with junk around them."""
    kind = draw(st.sampled_from(kinds()))
    docs = [draw(mutated(seed(kind, fresh_name())))]
    if draw(st.booleans()):
        docs.append(draw(st.sampled_from([None, [], "text", 1, seed(kind, fresh_name())])))
    suffix = draw(st.sampled_from([".yaml", ".yaml", ".json"]))
    if suffix == ".json":
        return kind, suffix, json.dumps(docs[0])
    text = "---\n".join(as_yaml(d) for d in docs)
    junk = draw(st.sampled_from(["", "", "\t", "key: [unclosed\n", "a: 1\na: 2\n", "- x\n", ": :\n"]))
    where = draw(st.sampled_from(["start", "end"]))
    text = junk + text if where == "start" else text + junk + draw(st.text(CHARS, max_size=20))
    return kind, suffix, text


@fuzz(max_examples=60)
@given(case=manifest_file())
async def test_kctl_apply_of_mutated_files(target: Target, tmp_path_factory: pytest.TempPathFactory,
                                           case: tuple[str, str, str]) -> None:
    kind, suffix, text = case
    ns = namespace_for(kind) or "default"
    path = Path(tmp_path_factory.mktemp("kctl")) / f"manifest{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = await target.names(kind, namespace_for(kind))
    with mock.patch.dict(os.environ, {"KCTL_DEBUG": "1"}):
        result = await Kctl(target.plane.server)("apply", "-f", str(path), "-n", ns)
    assert result.code in (0, 1), result
    for stream in (result.out, result.err):
        assert "Traceback" not in stream and "failed unexpectedly" not in stream, stream
    if result.code == 1:
        assert result.err.startswith((f"error: {path}: document", "error: no objects passed to apply",
                                      "Error from server")), result.err
    for name in await target.names(kind, namespace_for(kind)) - before:
        await target.cleanup(kind, name, namespace_for(kind))
