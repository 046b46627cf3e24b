"""Pod Security admission: a namespace's `pod-security.kubernetes.io/*` labels decide which pods it accepts.

Why in the apiserver's write path: like Kubernetes' built-in PodSecurity
admission, the decision must hold for every client, against the namespace as it
is now. Labels (per mode `enforce`, `warn`, `audit`, each with `-version`):

* `enforce`: a violating pod create is refused with Kubernetes' Forbidden message
  `pods "x" is forbidden: violates PodSecurity "restricted:latest": ...`;
* `warn` and `audit`: violations are logged (kubelite's API has no warning
  headers yet, so `warn` is a server-side log line, as `audit` is);
* no label: the cluster default (`--pod-security-default`, `privileged` like
  Kubernetes); `kube-system` is exempt from that default (its label still counts);
* an unparseable level fails closed to `restricted`, as upstream does; namespace
  creates/updates with such a label are refused (see `namespace_label_causes`).

Every version is evaluated with the latest checks (kubelite has one policy
version); the version label is validated and echoed in messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apiserver.podsecurity.checks import LEVELS, evaluate
from kubelite.api import Pod
from kubelite.api.errors import Forbidden, StatusCause

log = logging.getLogger(__name__)

PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "warn", "audit")
VERSION_RE = re.compile(r"^(latest|v1\.(0|[1-9][0-9]*))$")
EXEMPT_FROM_DEFAULT = ("kube-system",)

NamespaceLabels = Callable[[str], Awaitable[dict[str, str] | None]]


@dataclass(frozen=True)
class ModePolicy:
    level: str
    version: str = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


def namespace_label_causes(labels: dict[str, str]) -> list[StatusCause]:
    """Invalid pod-security labels on a namespace (Kubernetes refuses them too)."""
    out = []
    for mode in MODES:
        level = labels.get(PREFIX + mode)
        if level is not None and level not in LEVELS:
            out.append(StatusCause.not_supported(f"metadata.labels[{PREFIX}{mode}]", level, LEVELS))
        version = labels.get(f"{PREFIX}{mode}-version")
        if version is not None and not VERSION_RE.match(version):
            out.append(StatusCause.invalid(f"metadata.labels[{PREFIX}{mode}-version]", version,
                                           'must be "latest" or "v1.<minor>"'))
    return out


def policy_for(labels: dict[str, str] | None, mode: str, default: ModePolicy) -> ModePolicy:
    """The level/version a namespace's labels give `mode`."""
    labels = labels or {}
    level = labels.get(PREFIX + mode)
    version = labels.get(f"{PREFIX}{mode}-version", "latest")
    if not VERSION_RE.match(version):
        version = "latest"
    if level is None:
        return default if mode == "enforce" else ModePolicy("privileged")
    if level not in LEVELS:
        return ModePolicy("restricted", version)  # fail closed, like upstream
    return ModePolicy(level, version)


class PodSecurityAdmission:
    def __init__(self, namespace_labels: NamespaceLabels, default_level: str = "privileged") -> None:
        if default_level not in LEVELS:
            raise ValueError(f"pod security default must be one of {', '.join(LEVELS)}, got {default_level!r}")
        self._labels = namespace_labels
        self.default = ModePolicy(default_level)

    async def admit(self, namespace: str, pod: Pod) -> list[str]:
        """Refuse a pod the namespace's `enforce` level forbids; the `warn` messages (also logged)."""
        labels = await self._labels(namespace)
        default = ModePolicy("privileged") if namespace in EXEMPT_FROM_DEFAULT else self.default
        name = pod.metadata.name or pod.metadata.generate_name or ""
        enforce = policy_for(labels, "enforce", default)
        violations = evaluate(enforce.level, pod.spec)
        if violations:
            raise Forbidden(f'pods "{name}" is forbidden: violates PodSecurity "{enforce}": '
                            + ", ".join(str(v) for v in violations), name=name, kind="pods")
        warnings = []
        for mode in ("warn", "audit"):
            policy = policy_for(labels, mode, default)
            found = evaluate(policy.level, pod.spec)
            if not found:
                continue
            text = f'would violate PodSecurity "{policy}": ' + ", ".join(str(v) for v in found)
            log.warning("pod security %s", mode, extra={"namespace": namespace, "pod": name, "violations": text})
            if mode == "warn":
                warnings.append(text)
        return warnings
