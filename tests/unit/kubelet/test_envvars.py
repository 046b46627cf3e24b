"""Kubernetes env semantics: $(VAR) expansion, downward API, command vs args."""

from __future__ import annotations

import pytest

from api import Container, Pod
from kubelet.envvars import ConfigError, container_argv, container_env, expand


def lookup(name: str) -> str | None:
    return {"A": "alpha", "EMPTY": ""}.get(name)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(A)", "alpha"),
        ("x-$(A)-y", "x-alpha-y"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("$A", "$A"),
        ("a$", "a$"),
        ("$(A", "$(A"),
        ("$(EMPTY)z", "z"),
        ("$(A)$(A)", "alphaalpha"),
    ],
)
def test_expand(text: str, want: str) -> None:
    assert expand(text, lookup) == want


def pod(container: dict[str, object]) -> Pod:
    return Pod.from_dict({
        "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "serviceAccountName": "robot", "containers": [container]},
    })


def test_downward_api_and_references() -> None:
    fields = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "status.podIP",
              "status.hostIP", "spec.serviceAccountName", "metadata.labels['app']"]
    env = [{"name": f"F{i}", "valueFrom": {"fieldRef": {"fieldPath": f}}} for i, f in enumerate(fields)]
    env += [{"name": "GREETING", "value": "hi $(F0) in $(F1) $(LATER)"}, {"name": "LATER", "value": "x"}]
    p = pod({"name": "c", "image": "i", "env": env})
    got = container_env(p, p.spec.containers[0], "127.0.0.11")
    assert [got[f"F{i}"] for i in range(len(fields))] == [
        "web-1", "prod", "u-1", "node-1", "127.0.0.11", "127.0.0.11", "robot", "web",
    ]
    # Only variables defined earlier in the list are expanded (like Kubernetes).
    assert got["GREETING"] == "hi web-1 in prod $(LATER)"


def test_argv_is_command_plus_args_with_expansion() -> None:
    p = pod({"name": "c", "image": "i", "command": ["sh", "-c"], "args": ["echo $(WHO) $$(WHO) $HOME"],
             "env": [{"name": "WHO", "value": "me"}]})
    c = p.spec.containers[0]
    assert container_argv(c, container_env(p, c, "10.0.0.1")) == ["sh", "-c", "echo me $(WHO) $HOME"]
    assert container_argv(Container(name="x", args=["sleep", "1"]), {}) == ["sleep", "1"]
    assert container_argv(Container(name="x"), {}) == []


def test_unsupported_sources_are_config_errors() -> None:
    p = pod({"name": "c", "image": "i", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]})
    with pytest.raises(ConfigError, match="spec.bogus"):
        container_env(p, p.spec.containers[0], "1.2.3.4")
    p = pod({"name": "c", "image": "i",
             "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]})
    with pytest.raises(ConfigError, match="configMapKeyRef"):
        container_env(p, p.spec.containers[0], "1.2.3.4")
