"""The registry names each built-in kind without importing its model; the names must be the model's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubelite.api import registry
from kubelite.api.errors import NotFound
from kubelite.api.meta import Resource


@pytest.mark.parametrize("info", registry.builtin_kinds(), ids=lambda i: i.kind)
def test_every_builtin_kind_names_its_models_kind_and_api_version(info: registry.KindInfo) -> None:
    model = info.model
    assert model.__name__ == info.kind
    assert model.model_fields["kind"].default == info.kind
    assert model.model_fields["api_version"].default == info.api_version
    assert registry.for_model(model) is info
    assert registry.for_gvk(info.api_version, info.kind) is info


def test_for_model_refuses_a_class_that_is_not_a_registered_kind() -> None:
    with pytest.raises(NotFound, match="Resource is not a registered kind"):
        registry.for_model(Resource)


def test_resolving_names_and_importing_errors_builds_no_model_class() -> None:
    """What a `kctl get` start-up needs from kubelite.api must not import pydantic (~0.2 s of
    model classes); the first `from kubelite.api import Pod` still works."""
    code = ("import sys\n"
            "import kubelite.api.errors, kubelite.api.columns, kubelite.api.registry as r\n"
            "assert r.lookup('po').resource == 'pods'\n"
            "assert 'pydantic' not in sys.modules, sorted(m for m in sys.modules if m.startswith('kubelite'))\n"
            "from kubelite.api import Pod\n"
            "assert r.lookup('po').model is Pod\n")
    subprocess.run([sys.executable, "-c", code], check=True)
