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


def test_a_name_from_kubelite_api_imports_only_its_own_model_module() -> None:
    """`from kubelite.api import Service` (a DNS server, a proxy) must not import the Deployment,
    Job or Pod models (kubelite/api/lazyexports.py); every exported name still resolves."""
    code = ("import sys\n"
            "from kubelite.api import Endpoints, Service\n"
            "loaded = {m for m in sys.modules if m.startswith('kubelite.api.')}\n"
            "assert not loaded & {'kubelite.api.models', 'kubelite.api.apps', 'kubelite.api.pods',\n"
            "                     'kubelite.api.batch'}, sorted(loaded)\n"
            "from kubelite.client import ApiClient\n"
            "assert 'kubelite.client.leaderelection' not in sys.modules\n"
            "import kubelite.api, kubelite.api.models as models, kubelite.client, kubelite.client.surface as surface\n"
            "for package, exports in ((kubelite.api, models), (kubelite.client, surface)):\n"
            "    for name in exports.__all__:\n"
            "        assert getattr(package, name) is getattr(exports, name), name\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_building_a_validator_leaves_no_cyclic_garbage() -> None:
    """A kind's first decode builds its validator, which makes ~5,000 objects of cyclic garbage
    (kubelite/api/base.py `__pydantic_on_complete__`); with the collector off (as in `gc_paused`
    blocks) none of it may be left for a full collection to find."""
    code = ("import gc\n"
            "from kubelite.api import Deployment\n"
            "gc.collect()\n"
            "gc.disable()\n"
            "Deployment.from_dict({'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'a'}})\n"
            "found = gc.collect()\n"
            "assert found < 100, found\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_kinds_first_build_builds_the_shared_parts_first() -> None:
    """ObjectMeta and PodSpec (`shared_validator`) get validators of their own before the first
    kind containing them is built, so Deployment, Job, Pod... refer to one PodSpec validator
    instead of compiling a copy each; a model that contains neither builds nothing more."""
    code = ("from kubelite.api import ConfigMap, Deployment, ObjectMeta, PodSpec, PodTemplateSpec\n"
            "from kubelite.api.pods import Toleration\n"
            "Toleration.from_dict({'key': 'k'})\n"
            "assert not ObjectMeta.__pydantic_complete__ and not PodSpec.__pydantic_complete__\n"
            "ConfigMap.from_dict({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'a'}})\n"
            "assert ObjectMeta.__pydantic_complete__ and not PodSpec.__pydantic_complete__\n"
            "d = Deployment.from_dict({'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'a'},\n"
            "    'spec': {'selector': {}, 'template': {'spec': {'containers': [{'name': 'c', 'image': 'x'}]}}}})\n"
            "assert PodSpec.__pydantic_complete__ and not PodTemplateSpec.__pydantic_complete__\n"
            "assert d.spec.template.spec.containers[0].image == 'x'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
