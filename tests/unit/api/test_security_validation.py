"""Security fields kubelite cannot enforce are rejected with a cause naming the field, never dropped."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import Deployment, Pod
from kubelite.api.validation import validate


def causes(spec: dict[str, Any], **container: Any) -> list[tuple[str, str]]:
    c = {"name": "c", "image": "busybox", **container}
    p = Pod.from_dict({"metadata": {"name": "x"}, "spec": {"containers": [c], **spec}})
    return [(x.field, x.message) for x in validate(p)]


@pytest.mark.parametrize(
    ("spec", "sc", "field", "text"),
    [
        ({"securityContext": {"seLinuxOptions": {"level": "s0:c1"}}}, None, "spec.securityContext.seLinuxOptions",
         "Forbidden: SELinux is not supported"),
        ({}, {"seLinuxOptions": {"type": "t"}}, "spec.containers[0].securityContext.seLinuxOptions", "SELinux"),
        ({}, {"windowsOptions": {"runAsUserName": "x"}}, "spec.containers[0].securityContext.windowsOptions",
         "Windows"),
        ({}, {"appArmorProfile": {"type": "Localhost", "localhostProfile": "p"}},
         "spec.containers[0].securityContext.appArmorProfile.type", "AppArmor is not available"),
        ({}, {"procMount": "Unmasked"}, "spec.containers[0].securityContext.procMount", "Forbidden"),
        ({"securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1"}]}}, None,
         "spec.securityContext.sysctls", "sysctls are not supported"),
        ({"shareProcessNamespace": True}, None, "spec.shareProcessNamespace", "Forbidden"),
        ({"hostUsers": False}, None, "spec.hostUsers", "user namespaces"),
        ({}, {"capabilities": {"add": ["NOT_A_CAP"]}}, "spec.containers[0].securityContext.capabilities.add[0]",
         'Unsupported value: "NOT_A_CAP"'),
        ({}, {"seccompProfile": {"type": "Localhost"}},
         "spec.containers[0].securityContext.seccompProfile.localhostProfile",
         "Required value: must be set when seccomp type is Localhost"),
        ({}, {"seccompProfile": {"type": "Bogus"}}, "spec.containers[0].securityContext.seccompProfile.type",
         "Unsupported value"),
        ({}, {"privileged": True, "allowPrivilegeEscalation": False}, "spec.containers[0].securityContext",
         "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
        ({}, {"capabilities": {"add": ["SYS_ADMIN"]}, "allowPrivilegeEscalation": False},
         "spec.containers[0].securityContext", "`capabilities.Add` CAP_SYS_ADMIN"),
        ({"securityContext": {"runAsUser": -1}}, None, "spec.securityContext.runAsUser",
         "must be between 0 and 2147483647"),
    ],
)
def test_refused_fields(spec: dict[str, Any], sc: dict[str, Any] | None, field: str, text: str) -> None:
    found = causes(spec, **({"securityContext": sc} if sc else {}))
    assert any(f == field and text in m for f, m in found), found


def test_supported_settings_pass_and_templates_are_checked() -> None:
    assert causes({"securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000],
                                       "seccompProfile": {"type": "RuntimeDefault"}}},
                  securityContext={"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                   "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                   "appArmorProfile": {"type": "RuntimeDefault"}, "procMount": "Default"}) == []
    d = Deployment.from_dict({"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"securityContext": {"seLinuxOptions": {"level": "s0"}},
                     "containers": [{"name": "c", "image": "i"}]}}}})
    assert "spec.template.spec.securityContext.seLinuxOptions" in [c.field for c in validate(d)]
