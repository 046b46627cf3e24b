"""Strategy of CertificateSigningRequests: who asked is the server's to say, approval and issuance are apart.

Why these rules (Kubernetes' CSR registry):
* `spec.username/uid/groups/extra` are overwritten on create with the
  authenticated requester -- the approver trusts them, so a client must not be
  able to claim to be someone else;
* the spec is immutable: what was approved is what gets signed;
* `Approved`/`Denied` change only through the `approval` subresource (which
  RBAC grants separately), everything else in the status -- the certificate,
  `Failed` -- only through `status`; a decision, once made, stays; a
  certificate is set once, and only on an approved request.
"""

from __future__ import annotations

import re

from apiserver.access import current_user
from apiserver.strategy.base import StatusStrategy
from kubelite.api import defaults
from kubelite.api.certificates import (
    APPROVED,
    DENIED,
    FAILED,
    KEY_USAGES,
    MIN_EXPIRATION_SECONDS,
    CertificateSigningRequest,
    CertificateSigningRequestCondition,
    CertificateSigningRequestStatus,
    decode_request,
)
from kubelite.api.errors import Invalid, StatusCause
from kubelite.api.meta import Resource
from kubelite.api.names import dns1123_subdomain_error
from kubelite.api.registry import KindInfo
from kubelite.api.timeutil import now
from kubelite.api.validation import validate_object_meta

APPROVAL_TYPES = (APPROVED, DENIED)
SIGNER_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[-a-zA-Z0-9_.~]+)+$")


def _conditions(obj: CertificateSigningRequest, types: tuple[str, ...], keep: bool) -> list[
        CertificateSigningRequestCondition]:
    return [c for c in obj.status.conditions if (c.type in types) == keep]


class CertificateSigningRequestStrategy(StatusStrategy[CertificateSigningRequest, CertificateSigningRequestStatus]):
    def __init__(self, info: KindInfo) -> None:
        super().__init__(info, CertificateSigningRequest)

    def status(self, obj: CertificateSigningRequest) -> CertificateSigningRequestStatus:
        return obj.status

    def set_status(self, obj: CertificateSigningRequest, status: CertificateSigningRequestStatus) -> None:
        obj.status = status

    def initial_status(self) -> CertificateSigningRequestStatus:
        return CertificateSigningRequestStatus()

    def on_create(self, obj: CertificateSigningRequest) -> None:
        super().on_create(obj)
        user = current_user.get()
        spec = obj.spec
        spec.username = user.name if user is not None else None
        spec.uid = (user.uid or None) if user is not None else None
        spec.groups = list(user.groups) if user is not None else []
        spec.extra = {k: list(v) for k, v in user.extra.items()} if user is not None else {}

    def validate(self, obj: Resource, old: Resource | None = None) -> None:
        csr = self.narrow(obj)
        defaults.apply_defaults(csr)
        out: list[StatusCause] = []
        validate_object_meta(csr.metadata, dns1123_subdomain_error, out)
        spec = csr.spec
        if not spec.request:
            out.append(StatusCause.required("spec.request", "a PEM-encoded CERTIFICATE REQUEST is required"))
        else:
            try:
                decode_request(spec.request)
            except ValueError as exc:
                out.append(StatusCause.invalid("spec.request", "<request>", str(exc)))
        if not spec.signer_name:
            out.append(StatusCause.required("spec.signerName", "signerName is required"))
        elif not SIGNER_RE.match(spec.signer_name):
            out.append(StatusCause.invalid("spec.signerName", spec.signer_name,
                                           "must be a fully qualified domain and path of the form 'example.com/signer-name'"))
        if spec.expiration_seconds is not None and spec.expiration_seconds < MIN_EXPIRATION_SECONDS:
            out.append(StatusCause.invalid("spec.expirationSeconds", spec.expiration_seconds,
                                           f"may not specify a duration less than {MIN_EXPIRATION_SECONDS} seconds"))
        for i, usage in enumerate(spec.usages):
            if usage not in KEY_USAGES:
                out.append(StatusCause.not_supported(f"spec.usages[{i}]", usage, list(KEY_USAGES)))
        self._validate_status(csr, out)
        if old is not None:
            previous = self.narrow(old)
            if previous.spec != csr.spec:
                out.append(StatusCause.invalid("spec", "<spec>", "field is immutable"))
            self._validate_transition(previous, csr, out)
        if out:
            raise Invalid.for_object(self.info.kind, csr.metadata.name, out)

    @staticmethod
    def _validate_status(csr: CertificateSigningRequest, out: list[StatusCause]) -> None:
        seen: set[str] = set()
        for i, cond in enumerate(csr.status.conditions):
            if cond.type in seen and cond.type in (APPROVED, DENIED, FAILED):
                out.append(StatusCause.duplicate(f"status.conditions[{i}].type", cond.type))
            seen.add(cond.type)
            if cond.type in APPROVAL_TYPES and cond.status != "True":
                out.append(StatusCause.not_supported(f"status.conditions[{i}].status", cond.status, ["True"]))
        if APPROVED in seen and DENIED in seen:
            out.append(StatusCause.invalid("status.conditions", "Approved, Denied",
                                           "Approved and Denied conditions are mutually exclusive"))
        if csr.status.certificate and APPROVED not in seen:
            out.append(StatusCause.invalid("status.certificate", "<certificate>",
                                           "may not be set unless the request is Approved"))

    @staticmethod
    def _validate_transition(old: CertificateSigningRequest, new: CertificateSigningRequest,
                             out: list[StatusCause]) -> None:
        for kind in APPROVAL_TYPES:
            if old.condition(kind) is not None and new.condition(kind) is None:
                out.append(StatusCause.forbidden("status.conditions", f"updates may not remove a condition of type "
                                                 f"{kind!r}"))
        if old.status.certificate and new.status.certificate != old.status.certificate:
            out.append(StatusCause.forbidden("status.certificate", "updates may not modify existing certificate "
                                             "content"))

    def prepare_for_status_update(self, old: Resource, new: Resource) -> Resource:
        """`status`: the certificate and conditions other than Approved/Denied."""
        stored, wanted = self.narrow(old), self.narrow(new)
        result = stored.model_copy(deep=True)
        result.status.certificate = wanted.status.certificate
        result.status.conditions = (_conditions(stored, APPROVAL_TYPES, True)
                                    + _conditions(wanted, APPROVAL_TYPES, False))
        return self._finish(result, stored)

    def prepare_for_subresource_update(self, subresource: str, old: Resource, new: Resource) -> Resource:
        if subresource != "approval":
            return super().prepare_for_subresource_update(subresource, old, new)
        stored, wanted = self.narrow(old), self.narrow(new)
        result = stored.model_copy(deep=True)
        result.status.conditions = (_conditions(wanted, APPROVAL_TYPES, True)
                                    + _conditions(stored, APPROVAL_TYPES, False))
        return self._finish(result, stored)

    def _finish(self, result: CertificateSigningRequest, stored: CertificateSigningRequest) -> Resource:
        stamp = now()
        for cond in result.status.conditions:
            cond.last_update_time = cond.last_update_time or stamp
            cond.last_transition_time = cond.last_transition_time or stamp
        result.metadata.resource_version = None
        self.validate(result, stored)
        return result
