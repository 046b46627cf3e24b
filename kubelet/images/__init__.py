"""Node-local OCI images: references, registry pulls, content-addressed blobs, shared layers.

Public surface for the kubelet and the runtimes:
  ImageStore(root, default_registry=..., insecure_registries=..., ca_file=...)
    .ensure(ref, policy, auth, on_event) -> Image        (raises ImagePullError)
    .get(ref) -> Image | None; .list_images(); .load_archive(path) -> refs
    .remove_unused(in_use, bytes_to_free=None) -> removed ids; .remove(ref_or_id)
  Image(id, ref, layer_dirs (lowest first), config: ImageConfig, repo_digest, size)
  ImageConfig(entrypoint, cmd, env, working_dir, user, stop_signal, labels)
  RegistryAuth(username, password); auth_from_dockerconfigjson(data, registry)
  parse_reference(text, default_registry) -> Reference
"""

from kubelet.images.auth import InvalidDockerConfig, RegistryAuth, auth_from_dockerconfigjson
from kubelet.images.errors import ArchiveError, ImagePullError, LayerError, RegistryError
from kubelet.images.manifest import ImageConfig
from kubelet.images.reference import InvalidReference, Reference, parse_reference
from kubelet.images.store import EventCallback, Image, ImageStore, PullPolicy, default_pull_policy

__all__ = [
    "ArchiveError", "EventCallback", "Image", "ImageConfig", "ImagePullError", "ImageStore", "InvalidDockerConfig",
    "InvalidReference", "LayerError", "PullPolicy", "Reference", "RegistryAuth", "RegistryError",
    "auth_from_dockerconfigjson", "default_pull_policy", "parse_reference",
]
