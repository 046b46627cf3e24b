"""Kubernetes' ServiceAccount admission for pods, and the `serviceaccounts/token` subresource.

Admission (on pod create only, like Kubernetes' plugin): an empty
`spec.serviceAccountName` becomes `default`; a pod naming a ServiceAccount that
does not exist is refused (Forbidden), so it never runs with an identity it
cannot have; the ServiceAccount's imagePullSecrets are copied onto a pod that
names none; and unless the pod or its ServiceAccount says
`automountServiceAccountToken: false`, the pod gets the projected volume
`kube-api-access-<suffix>` (a bound token, the cluster CA and the namespace)
mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every
container. The kubelet fills that volume (TokenRequest, refreshed).

Deviation: the `kube-root-ca.crt` source is `optional: true`, since a kubelite
cluster may run without a CA (no `--root-ca-file` on the controller-manager);
the file is then simply absent instead of the pod waiting forever.

TokenRequest (`create serviceaccounts/token`, body a TokenRequest with
`metadata.name` = the ServiceAccount): checks the ServiceAccount and the bound
Pod exist (and the pod's uid and service account match), then signs.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from apiserver import objects, storage
from apiserver.serviceaccount.config import (
    DEFAULT_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    ServiceAccountConfig,
)
from apiserver.serviceaccount.tokens import BoundPod, TokenIssuer, TokenValidator
from kubelite.api import (
    LocalObjectReference,
    Pod,
    ServiceAccount,
    TokenRequest,
    Volume,
    VolumeMount,
    registry,
)
from kubelite.api.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
    StatusCause,
)
from kubelite.api.timeutil import format_time, now

if TYPE_CHECKING:
    from apiserver.service import ResourceService

DEFAULT_SERVICE_ACCOUNT = "default"
DEFAULT_ACCOUNT_LOOKUPS = 10
"""Lookups of a namespace's `default` ServiceAccount before a pod naming it is refused, 100-200 ms
apart (as Kubernetes' admission plugin): the ServiceAccount controller creates it just after the
namespace, so a manifest with a namespace and its pods (`kctl apply -f`) raced it and its first
pod could be refused on a busy machine. Any other ServiceAccount is looked up once."""
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
KUBELET_TOKEN_SECONDS = 3607  # what Kubernetes' admission asks for (the kubelet refreshes at 80%)
TOKEN_SUBRESOURCE = "serviceaccounts/token"


def api_access_volume(name: str) -> Volume:
    """The projected volume Kubernetes' ServiceAccount admission adds (ca.crt optional here)."""
    return Volume.from_dict({"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": KUBELET_TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}],
                       "optional": True}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}})


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


class ServiceAccounts:
    """Pod admission, TokenRequest and the token validator of one apiserver.

    `config` None: no signing key, so no TokenRequest (ServiceUnavailable) and
    no validator; `admission` False leaves pods alone (in-process test servers
    that run no ServiceAccount controller).
    """

    def __init__(self, service: ResourceService, config: ServiceAccountConfig | None, *, admission: bool) -> None:
        self._service = service
        self.config = config
        self.admission = admission
        self.issuer: TokenIssuer | None = config.issuer() if config is not None else None
        self.validator: TokenValidator | None = config.validator(self.get_object) if config is not None else None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """Waits between lookups of the default ServiceAccount (a test's fake clock replaces it)."""

    async def get_object(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object from the watch cache, or from the store when the cache has not seen it (yet)."""
        cached = self._service.caches[resource].get(storage.object_key(resource, namespace, name))
        if cached is not None:
            return cached.obj
        current = await self._service.read(registry.lookup(resource), namespace, name)
        return current.obj if current is not None else None

    async def _service_account(self, namespace: str, name: str) -> ServiceAccount | None:
        lookups = DEFAULT_ACCOUNT_LOOKUPS if name == DEFAULT_SERVICE_ACCOUNT else 1
        interval = random.uniform(0.1, 0.2)
        for lookup in range(lookups):
            if lookup:
                await self.sleep(interval)
            obj = await self.get_object("serviceaccounts", namespace, name)
            if obj is not None:
                return ServiceAccount.from_dict(obj)
        return None

    # ---- admission -----------------------------------------------------------------------------

    async def admit_pod(self, pod: Pod) -> bool:
        """Kubernetes' ServiceAccount admission on a new pod (see the module doc); True if it ran."""
        if not self.admission:
            return False
        spec = pod.spec
        ns = pod.metadata.namespace or "default"
        name = spec.service_account_name or spec.service_account or DEFAULT_SERVICE_ACCOUNT
        spec.service_account_name = name
        if spec.service_account and spec.service_account != name:
            raise Invalid.for_object("Pod", pod.metadata.name, [StatusCause.invalid(
                "spec.serviceAccount", spec.service_account, "must match spec.serviceAccountName")])
        sa = await self._service_account(ns, name)
        if sa is None:
            raise Forbidden(f'pods "{pod.metadata.name}" is forbidden: error looking up service account '
                            f'{ns}/{name}: serviceaccount "{name}" not found', name=pod.metadata.name, kind="pods")
        if not spec.image_pull_secrets and sa.image_pull_secrets:
            spec.image_pull_secrets = [LocalObjectReference(name=r.name) for r in sa.image_pull_secrets]
        automount = spec.automount_service_account_token
        if automount is None:
            automount = sa.automount_service_account_token
        if automount is False:
            return True
        containers = [*spec.init_containers, *spec.containers]
        if all(any(m.mount_path == MOUNT_PATH for m in c.volume_mounts) for c in containers):
            return True
        volume_names = {v.name for v in spec.volumes}
        volume = next((v.name for v in spec.volumes if v.name.startswith(VOLUME_PREFIX) and v.projected), "")
        if not volume:
            while not volume or volume in volume_names:
                volume = VOLUME_PREFIX + _suffix()
            spec.volumes.append(api_access_volume(volume))
        for c in containers:
            if not any(m.mount_path == MOUNT_PATH for m in c.volume_mounts):
                c.volume_mounts.append(VolumeMount(name=volume, mount_path=MOUNT_PATH, read_only=True))
        return True

    # ---- TokenRequest --------------------------------------------------------------------------

    async def create_token(self, namespace: str, name: str, body: bytes) -> bytes:
        """Sign a token for ServiceAccount `namespace/name` as the TokenRequest `body` asks; the answered
        TokenRequest (status.token, status.expirationTimestamp) as JSON."""
        if self.issuer is None or self.config is None:
            raise ServiceUnavailable("token requests need the apiserver's --service-account-signing-key-file")
        ns = namespace or "default"
        raw = objects.parse_body(body) if body else {}
        raw.setdefault("apiVersion", "authentication.k8s.io/v1")
        raw.setdefault("kind", "TokenRequest")
        request = TokenRequest.from_dict(raw)
        name = name or request.metadata.name or ""
        if not name:
            raise BadRequest("a token request needs the service account's name (metadata.name)")
        sa = await self._service_account(ns, name)
        if sa is None:
            raise NotFound.for_object("serviceaccounts", name)
        spec = request.spec
        seconds = spec.expiration_seconds if spec.expiration_seconds is not None else DEFAULT_EXPIRATION_SECONDS
        if seconds < MIN_EXPIRATION_SECONDS:
            raise Invalid.for_object("TokenRequest", name, [StatusCause.invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")])
        if seconds > 2**32:
            raise Invalid.for_object("TokenRequest", name, [StatusCause.invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds")])
        if self.config.max_expiration_seconds:
            seconds = min(seconds, self.config.max_expiration_seconds)
        spec.expiration_seconds = seconds
        if not spec.audiences:
            spec.audiences = list(self.config.api_audiences)
        pod = await self._bound_pod(ns, name, request)
        issued = self.issuer.issue(ns, name, sa.metadata.uid or "", spec.audiences, seconds, pod)
        request.metadata.name = name
        request.metadata.namespace = ns
        request.metadata.creation_timestamp = now()
        request.status.token = issued.token
        request.status.expiration_timestamp = format_time(issued.expires)
        return json.dumps(request.to_dict(), separators=(",", ":")).encode()

    async def _bound_pod(self, ns: str, sa_name: str, request: TokenRequest) -> BoundPod | None:
        ref = request.spec.bound_object_ref
        if ref is None:
            return None
        if ref.kind != "Pod" or (ref.api_version or "v1") != "v1":
            raise BadRequest(f"cannot bind token to object of type {ref.api_version or ''}, Kind={ref.kind} "
                             "(kubelite binds tokens to Pods)")
        if not ref.name:
            raise BadRequest("spec.boundObjectRef.name is required")
        obj = await self.get_object("pods", ns, ref.name)
        if obj is None:
            raise NotFound.for_object("pods", ref.name)
        pod = Pod.from_dict(obj)
        uid = pod.metadata.uid or ""
        if ref.uid and ref.uid != uid:
            raise Conflict(f'the UID in the bound object reference ({ref.uid}) does not match the UID in record. '
                           f'The object might have been deleted and then recreated')
        if (pod.spec.service_account_name or DEFAULT_SERVICE_ACCOUNT) != sa_name:
            raise BadRequest(f'cannot bind token for serviceaccount "{sa_name}" to pod "{ref.name}" which runs '
                             f'as "{pod.spec.service_account_name}"')
        ref.uid = uid
        ref.api_version = "v1"
        return BoundPod(ref.name, uid)
