"""The runc container runtime: OCI bundles over overlayfs, run by runc under conmon."""

from kubelet.runc.cleanup import cleanup_node
from kubelet.runc.records import ImageLike, ImageResolver, PodNetwork, available
from kubelet.runc.runtime import RuncRuntime

__all__ = ["ImageLike", "ImageResolver", "PodNetwork", "RuncRuntime", "available", "cleanup_node"]
