"""Pod Security admission (Kubernetes' Pod Security Standards: privileged, baseline, restricted)."""

from apiserver.podsecurity.admission import PodSecurityAdmission, namespace_label_causes

__all__ = ["PodSecurityAdmission", "namespace_label_causes"]
