"""Pod Security admission: each baseline/restricted check with Kubernetes' wording, levels from labels."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apiserver.podsecurity import PodSecurityAdmission, namespace_label_causes
from apiserver.podsecurity.checks import evaluate
from kubelite.api import Pod
from kubelite.api.errors import Forbidden

RESTRICTED_OK: dict[str, Any] = {
    "runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod(spec: dict[str, Any], **container: Any) -> Pod:
    c = {"name": "c", "image": "busybox", **container}
    return Pod.from_dict({"metadata": {"name": "x", "namespace": "ns"}, "spec": {"containers": [c], **spec}})


def messages(level: str, p: Pod) -> list[str]:
    return [str(v) for v in evaluate(level, p.spec)]


@pytest.mark.parametrize(
    ("spec", "container", "expected"),
    [
        ({"hostNetwork": True, "hostPID": True}, {}, "host namespaces (hostNetwork=true, hostPID=true)"),
        ({}, {"securityContext": {"privileged": True}},
         'privileged (container "c" must set securityContext.privileged=true)'.replace("must set", "must not set")),
        ({}, {"securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}},
         'non-default capabilities (container "c" must not include "NET_ADMIN" in '
         'securityContext.capabilities.add)'),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/etc"}}]}, {}, 'hostPath volumes (volume "h")'),
        ({}, {"ports": [{"containerPort": 80, "hostPort": 8080}]}, 'hostPort (container "c" uses hostPort 8080)'),
        ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, {},
         'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'),
        ({}, {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
         'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")'),
        ({}, {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
         'forbidden AppArmor profile (container "c" must not set securityContext.appArmorProfile.type to '
         '"Unconfined")'),
    ],
)
def test_baseline_checks(spec: dict[str, Any], container: dict[str, Any], expected: str) -> None:
    assert messages("baseline", pod(spec, **container)) == [expected]
    assert messages("privileged", pod(spec, **container)) == []


def test_baseline_allows_a_plain_pod_and_restricted_lists_everything_in_check_order() -> None:
    plain = pod({})
    assert messages("baseline", plain) == []
    assert messages("restricted", plain) == [
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)',
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"])',
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)',
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" '
        'or "Localhost")',
    ]
    assert messages("restricted", pod({}, securityContext=RESTRICTED_OK)) == []


@pytest.mark.parametrize(
    ("spec", "sc", "expected"),
    [
        ({"volumes": [{"name": "h", "hostPath": {"path": "/x"}}]}, RESTRICTED_OK,
         ['hostPath volumes (volume "h")',
          'restricted volume types (volume "h" uses restricted volume type "hostPath")']),
        ({}, {**RESTRICTED_OK, "runAsNonRoot": False},
         ['runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)']),
        ({"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}, {**RESTRICTED_OK, "runAsNonRoot": None},
         ["runAsUser=0 (pod must not set runAsUser=0)"]),
        ({}, {**RESTRICTED_OK, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SYS_TIME"]}},
         ['non-default capabilities (container "c" must not include "SYS_TIME" in securityContext.capabilities.add)'
          .replace("non-default", "unrestricted")]),
        ({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}},
         {k: v for k, v in RESTRICTED_OK.items() if k != "seccompProfile"}, []),
    ],
)
def test_restricted_checks(spec: dict[str, Any], sc: dict[str, Any], expected: list[str]) -> None:
    sc = {k: v for k, v in sc.items() if v is not None}
    assert messages("restricted", pod(spec, securityContext=sc)) == expected


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def admission(labels: dict[str, str] | None, default: str = "privileged") -> PodSecurityAdmission:
    async def lookup(_ns: str) -> dict[str, str] | None:
        return labels

    return PodSecurityAdmission(lookup, default)


def test_enforce_label_refuses_with_kubernetes_message() -> None:
    adm = admission({"pod-security.kubernetes.io/enforce": "restricted"})
    with pytest.raises(Forbidden) as err:
        run(adm.admit("ns", pod({})))
    assert str(err.value.message).startswith(
        'pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities')
    assert run(adm.admit("ns", pod({}, securityContext=RESTRICTED_OK))) == []
    versioned = admission({"pod-security.kubernetes.io/enforce": "baseline",
                           "pod-security.kubernetes.io/enforce-version": "v1.29"})
    with pytest.raises(Forbidden, match='violates PodSecurity "baseline:v1.29": privileged'):
        run(versioned.admit("ns", pod({}, securityContext={"privileged": True})))


def test_defaults_warn_and_fail_closed() -> None:
    assert run(admission(None).admit("ns", pod({"hostNetwork": True}))) == []  # privileged, like Kubernetes
    with pytest.raises(Forbidden, match="host namespaces"):
        run(admission({}, "baseline").admit("ns", pod({"hostNetwork": True})))
    assert run(admission({}, "baseline").admit("kube-system", pod({"hostNetwork": True}))) == []
    with pytest.raises(Forbidden, match='"restricted:latest"'):  # a bad level fails closed
        run(admission({"pod-security.kubernetes.io/enforce": "bogus"}).admit("ns", pod({})))
    warned = run(admission({"pod-security.kubernetes.io/warn": "baseline"}).admit("ns", pod({"hostPID": True})))
    assert warned == ['would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)']
    with pytest.raises(ValueError):
        admission(None, "strict")


def test_namespace_label_validation() -> None:
    assert namespace_label_causes({"pod-security.kubernetes.io/enforce": "baseline"}) == []
    bad = namespace_label_causes({"pod-security.kubernetes.io/enforce": "strict",
                                  "pod-security.kubernetes.io/warn-version": "1.2"})
    assert [c.field for c in bad] == ["metadata.labels[pod-security.kubernetes.io/enforce]",
                                      "metadata.labels[pod-security.kubernetes.io/warn-version]"]
