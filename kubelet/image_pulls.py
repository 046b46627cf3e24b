"""Image pulls for pod containers: policy, imagePullSecrets, back-off and Events.

Why a layer over the node's image store: the store knows registries and blobs;
what the user sees (`Pulling`/`Pulled`/`Failed` Events, `ErrImagePull` then
`ImagePullBackOff` in the container status, a growing pause between attempts)
is pod lifecycle and belongs to the kubelet, like Kubernetes' image manager.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from kubelet.backoff import BackOff
from kubelet.envvars import secret_data
from kubelet.images.auth import InvalidDockerConfig, RegistryAuth, auth_from_dockerconfigjson
from kubelet.images.errors import ImagePullError
from kubelet.images.reference import DOCKER_HUB, InvalidReference, parse_reference
from kubelite.api import Container, Pod, Secret
from kubelite.api.container import image_pull_policy_for

log = logging.getLogger(__name__)

PULL_BACKOFF_INITIAL = 10.0
PULL_BACKOFF_MAX = 300.0


class ImageService(Protocol):
    """What the kubelet needs of `kubelet.images.ImageStore`."""

    async def ensure(
        self, ref: str, policy: str, auth: RegistryAuth | None, on_event: Callable[[str, str], None]
    ) -> Any: ...


class PullFailed(Exception):
    """The container cannot start because of its image; `reason` goes to the status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


EventFn = Callable[[str, str, str], None]
SecretGetter = Callable[[str, str], Awaitable[Secret | None]]


def pull_auth(pod: Pod, ref: str, secrets: list[Secret], default_registry: str) -> RegistryAuth | None:
    """The first imagePullSecret with credentials for the image's registry."""
    try:
        registry = parse_reference(ref, default_registry).registry
    except InvalidReference:
        return None
    for secret in secrets:
        data = secret_data(secret)
        raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
        if raw is None:
            continue
        try:
            auth = auth_from_dockerconfigjson(raw, registry)
        except InvalidDockerConfig as exc:
            log.warning("bad imagePullSecret %s: %s", secret.metadata.name, exc)
            continue
        if auth is not None:
            return auth
    return None


class ImagePuller:
    def __init__(self, store: ImageService | None, backoff: BackOff | None = None) -> None:
        self.store = store
        self.backoff = backoff or BackOff(PULL_BACKOFF_INITIAL, PULL_BACKOFF_MAX)
        self._failed_at: dict[str, float] = {}
        self._last_error: dict[str, str] = {}

    async def pull(self, pod: Pod, container: Container, get_secret: SecretGetter, event: EventFn) -> str:
        """Make the container's image present; returns the reference to hand the runtime.

        Raises PullFailed(ErrImagePull | ImagePullBackOff | ErrImageNeverPull |
        InvalidImageName). Without an image store (process runtime) nothing is pulled.
        The caller emits the `BackOff` Event when the container enters ImagePullBackOff.
        """
        ref = container.image or ""
        if self.store is None:
            return ref
        default_registry = str(getattr(self.store, "default_registry", DOCKER_HUB))
        if not ref:
            raise PullFailed("InvalidImageName", f"container {container.name!r} has no image")
        try:
            parse_reference(ref, default_registry)
        except InvalidReference as exc:
            event("Warning", "InspectFailed", f"Failed to apply default image tag {ref!r}: {exc}")
            raise PullFailed("InvalidImageName", str(exc)) from None
        key = f"{pod.metadata.uid}/{container.name}/{ref}"
        now = time.time()
        failed = self._failed_at.get(key)
        if failed is not None and self.backoff.restart_at(key, failed, now) is not None:
            raise PullFailed("ImagePullBackOff", f'Back-off pulling image "{ref}": {self._last_error.get(key, "")}')
        ns = pod.metadata.namespace or "default"
        secrets = []
        for lor in pod.spec.image_pull_secrets:
            secret = await get_secret(ns, lor.name or "") if lor.name else None
            if secret is None:
                event("Warning", "FailedToRetrieveImagePullSecret",
                      f'Unable to retrieve some image pull secrets ({lor.name}); attempting to pull the image '
                      "may not succeed.")
            else:
                secrets.append(secret)
        auth = pull_auth(pod, ref, secrets, default_registry)
        policy = container.image_pull_policy or image_pull_policy_for(ref)
        try:
            image = await self.store.ensure(ref, policy, auth, lambda reason, msg: event("Normal", reason, msg))
        except ImagePullError as exc:
            self._failed_at[key] = time.time()
            self._last_error[key] = exc.message
            self.backoff.record_restart(key, time.time())
            if exc.reason == "ErrImageNeverPull":
                event("Warning", "ErrImageNeverPull", exc.message)
            else:
                event("Warning", "Failed", f'Failed to pull image "{ref}": {exc.message}')
            event("Warning", "Failed", f"Error: {exc.reason}")
            raise PullFailed(exc.reason, exc.message) from None
        self._failed_at.pop(key, None)
        self._last_error.pop(key, None)
        self.backoff.forget(key)
        return str(getattr(image, "ref", ref) or ref)

    def retry_at(self, pod: Pod, container: Container) -> float | None:
        """When a backed-off pull of this container's image may be tried again."""
        key = f"{pod.metadata.uid}/{container.name}/{container.image or ''}"
        failed = self._failed_at.get(key)
        return None if failed is None else self.backoff.restart_at(key, failed, time.time())

    def forget(self, uid: str) -> None:
        for key in [k for k in self._failed_at if k.startswith(f"{uid}/")]:
            del self._failed_at[key]
            self._last_error.pop(key, None)
        self.backoff.forget(f"{uid}/")
