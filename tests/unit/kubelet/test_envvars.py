"""Kubernetes env semantics: $(VAR) expansion, downward API, command vs args."""

from __future__ import annotations

import pytest

from kubelet.envvars import (
    ConfigError,
    RefData,
    container_argv,
    container_env,
    expand,
    referenced_objects,
    uses_pod_ip,
)
from kubelite.api import Container, Pod


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
             "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]})
    with pytest.raises(ConfigError, match="limits.gpu"):
        container_env(p, p.spec.containers[0], "1.2.3.4")


REFS = RefData(
    config_maps={"cm": {"color": b"blue", "size": b"L", "bad key": b"x"}},
    secrets={"sec": {"password": b"s3cret"}},
)


def test_config_map_and_secret_keys_and_env_from() -> None:
    p = pod({"name": "c", "image": "i",
             "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
             "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "color"}}},
                     {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                     {"name": "SIZE", "value": "override"},
                     {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k",
                                                                         "optional": True}}},
                     {"name": "MSG", "value": "$(COLOR)-$(S_password)"}]})
    env = container_env(p, p.spec.containers[0], "1.2.3.4", REFS)
    assert env["color"] == "blue" and env["S_password"] == "s3cret" and "bad key" not in env
    assert env["COLOR"] == "blue" and env["PW"] == "s3cret" and env["SIZE"] == "override"
    assert "OPT" not in env
    assert env["MSG"] == "blue-s3cret"


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "missing"}}}],
     "couldn't find key missing in ConfigMap prod/cm"),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}], 'secret "gone" not found'),
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}], 'configmap "gone" not found'),
])
def test_missing_references_are_config_errors(env: list[dict[str, object]], message: str) -> None:
    p = pod({"name": "c", "image": "i", "env": env})
    with pytest.raises(ConfigError, match=message):
        container_env(p, p.spec.containers[0], "1.2.3.4", REFS)
    q = pod({"name": "c", "image": "i", "envFrom": [{"configMapRef": {"name": "gone"}}]})
    with pytest.raises(ConfigError, match='configmap "gone" not found'):
        container_env(q, q.spec.containers[0], "1.2.3.4", REFS)


def test_resource_field_refs_and_pod_ip() -> None:
    p = pod({"name": "c", "image": "i",
             "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}},
             "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                     {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                        "divisor": "1Mi"}}},
                     {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu",
                                                                        "divisor": "1m"}}},
                     {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]})
    env = container_env(p, p.spec.containers[0], "1.2.3.4", pod_ip="10.244.1.7")
    assert (env["CPU"], env["MEM"], env["REQ"], env["IP"]) == ("2", "64", "250", "10.244.1.7")


def test_only_a_pod_ip_field_ref_makes_a_container_wait_for_the_network() -> None:
    def env_of(*paths: str) -> Container:
        env = [{"name": f"F{i}", "valueFrom": {"fieldRef": {"fieldPath": f}}} for i, f in enumerate(paths)]
        return pod({"name": "c", "image": "i", "env": [*env, {"name": "L", "value": "status.podIP"}]}).spec.containers[0]

    assert uses_pod_ip(env_of("metadata.name", "status.podIP"))
    assert uses_pod_ip(env_of("status.podIPs"))
    assert not uses_pod_ip(env_of("metadata.name", "status.hostIP"))  # and a literal naming it is no ref


def test_referenced_objects() -> None:
    p = Pod.from_dict({
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s1"}}],
                                 "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}}]}],
                 "volumes": [{"name": "v", "configMap": {"name": "c2"}}, {"name": "w", "secret": {"secretName": "s2"}},
                             {"name": "e", "emptyDir": {}}]},
    })
    assert referenced_objects(p) == ({"c1", "c2"}, {"s1", "s2"})
