"""The access endpoints of the HTTP API: TokenRequest and the self reviews.

Why apart from the resource handlers: none of these is a stored kind. A
TokenRequest (`POST .../serviceaccounts/NAME/token`) signs a token through the
same `ServiceAccounts.create_token` the gRPC API uses; SelfSubjectReview,
SelfSubjectAccessReview and SelfSubjectRulesReview are answered about the
caller by `AccessControl.review`, also shared with gRPC -- so real
`kubectl create token`, `kubectl auth whoami` and `kubectl auth can-i [--list]`
get the same answers either way. `DISCOVERY` lists them for kubectl's discovery.
"""

from __future__ import annotations

from aiohttp import web

from apiserver.access import REVIEW_GROUPS, AccessControl, current_user
from apiserver.http.errors import MethodNotAllowed, not_found_path
from apiserver.http.handlers import json_response, object_body
from apiserver.http.routing import RequestInfo
from apiserver.service import ResourceService
from kubelite.api.rbac import SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS, SELF_SUBJECT_RULES_REVIEWS

TOKEN = "token"
REVIEW_KINDS = {SELF_SUBJECT_REVIEWS: "SelfSubjectReview", SELF_SUBJECT_ACCESS_REVIEWS: "SelfSubjectAccessReview",
                SELF_SUBJECT_RULES_REVIEWS: "SelfSubjectRulesReview"}
VERSION = "v1"
CREATE_ONLY = ["create"]

# group/version -> discovery entries (name, kind); the token subresource is the core group's.
DISCOVERY: dict[str, list[tuple[str, str]]] = {}
for _resource, _kind in REVIEW_KINDS.items():
    DISCOVERY.setdefault(f"{REVIEW_GROUPS[_resource]}/{VERSION}", []).append((_resource, _kind))
TOKEN_SUBRESOURCE = ("serviceaccounts", TOKEN, "authentication.k8s.io", VERSION, "TokenRequest")



def serves(info: RequestInfo) -> bool:
    """True for a request this module answers (checked before the kind registry, which lacks them)."""
    if not info.is_resource_request:
        return False
    if info.subresource == TOKEN:
        return info.api_group == "" and info.resource == "serviceaccounts"
    return info.resource in REVIEW_KINDS and info.subresource == ""


async def handle(request: web.Request, info: RequestInfo, body: bytes, service: ResourceService,
                 access: AccessControl) -> web.Response:
    if info.api_version != VERSION or (info.resource in REVIEW_KINDS
                                       and info.api_group != REVIEW_GROUPS[info.resource]):
        raise not_found_path()
    if info.verb != "create":
        raise MethodNotAllowed(f"the server does not allow this method on the requested resource: {request.method}")
    content_type = request.headers.get("Content-Type", "")
    if info.subresource == TOKEN:
        if not info.namespace or not info.name:
            raise not_found_path()
        raw = object_body(body, content_type) if body else b""
        return json_response(await service.create_token(info.namespace, info.name, raw), 201)
    if info.namespace or info.name:
        raise not_found_path()  # cluster-scoped, created without a name
    answer = access.review(info.resource, object_body(body, content_type), current_user.get())
    return json_response(answer, 201)
