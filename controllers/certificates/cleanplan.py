"""csrcleaner's rule (Kubernetes' durations): when a CertificateSigningRequest has served its purpose.

Approved and denied requests go an hour after the decision, failed ones an
hour after failing, pending ones after a day, issued ones once their
certificate has expired (they are kept until then for inspection). Pure:
`expiry(csr)` is when it may be deleted, None when never (yet).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from cryptography import x509

from kubelite.api.certificates import APPROVED, DENIED, FAILED, CertificateSigningRequest
from kubelite.api.timeutil import parse_time_or_none

DECIDED_TTL = timedelta(hours=1)
PENDING_TTL = timedelta(hours=24)


def expiry(csr: CertificateSigningRequest) -> datetime | None:
    if csr.status.certificate:
        try:
            cert = x509.load_pem_x509_certificate(base64.b64decode(csr.status.certificate))
        except ValueError:
            return None
        return cert.not_valid_after_utc
    for kind in (DENIED, FAILED, APPROVED):
        cond = csr.condition(kind)
        if cond is not None:
            stamp = parse_time_or_none(cond.last_update_time) or parse_time_or_none(csr.metadata.creation_timestamp)
            return stamp + DECIDED_TTL if stamp is not None else None
    created = parse_time_or_none(csr.metadata.creation_timestamp)
    return created + PENDING_TTL if created is not None else None
