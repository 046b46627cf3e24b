"""core/v1 ServiceAccount and authentication.k8s.io/v1 TokenRequest.

Why TokenRequest is a model but not a registered kind: it is never stored; it is
the body of the `serviceaccounts/token` subresource (Kubernetes' TokenRequest
API), sent in and answered with `status.token` filled in.
"""

from __future__ import annotations

from pydantic import Field

from kubelite.api.base import Int64, KubeModel
from kubelite.api.meta import LocalObjectReference, ObjectReference, Resource

SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"


class ServiceAccount(Resource):
    api_version: str = "v1"
    kind: str = "ServiceAccount"
    secrets: list[ObjectReference] = Field(default_factory=list)
    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list)
    automount_service_account_token: bool | None = None


class BoundObjectReference(KubeModel):
    """The object a token is bound to (kubelite supports Pods): the token dies with it."""

    kind: str | None = None
    api_version: str | None = None
    name: str | None = None
    uid: str | None = None


class TokenRequestSpec(KubeModel):
    audiences: list[str] = Field(default_factory=list)
    expiration_seconds: Int64 | None = None
    bound_object_ref: BoundObjectReference | None = None


class TokenRequestStatus(KubeModel):
    token: str = ""
    expiration_timestamp: str | None = None


class TokenRequest(Resource):
    api_version: str = "authentication.k8s.io/v1"
    kind: str = "TokenRequest"
    spec: TokenRequestSpec = Field(default_factory=TokenRequestSpec)
    status: TokenRequestStatus = Field(default_factory=TokenRequestStatus)


def service_account_username(namespace: str, name: str) -> str:
    """`system:serviceaccount:<ns>:<name>`: the user name a ServiceAccount authenticates as."""
    return f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> list[str]:
    """The groups every ServiceAccount of `namespace` belongs to (Kubernetes' names)."""
    return [SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}", "system:authenticated"]
