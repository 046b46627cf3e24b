"""What a kubelet client certificate request must look like (signer `kube-apiserver-client-kubelet`).

Why one check shared by approver and signer: the approver must not approve,
and the signer must not sign, anything but `CN=system:node:<name>,
O=system:nodes` for client auth with no alternative names -- otherwise a
joining node's token could buy a `system:masters` certificate. Pure.
"""

from __future__ import annotations

from cryptography import x509

from kubelite.api.certificates import (
    KUBELET_CLIENT_USAGES,
    NODE_PREFIX,
    NODES_GROUP,
    CertificateSigningRequest,
    decode_request,
    subject_of,
)


def kubelet_client_problem(csr: CertificateSigningRequest) -> tuple[str, str]:
    """(node name, "") for a well-formed kubelet client request, else ("", why not)."""
    try:
        request = decode_request(csr.spec.request)
    except ValueError as exc:
        return "", str(exc)
    common_name, orgs = subject_of(request)
    if not common_name.startswith(NODE_PREFIX) or len(common_name) == len(NODE_PREFIX):
        return "", f"subject common name {common_name!r} does not start with {NODE_PREFIX!r}"
    if orgs != [NODES_GROUP]:
        return "", f"subject organization must be exactly [{NODES_GROUP!r}], got {orgs}"
    try:
        request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return "", "a kubelet client certificate may not carry subject alternative names"
    except x509.ExtensionNotFound:
        pass
    usages = set(csr.spec.usages)
    if "client auth" not in usages or not usages <= KUBELET_CLIENT_USAGES:
        return "", (f"usages must include 'client auth' and be within {sorted(KUBELET_CLIENT_USAGES)}, "
                    f"got {sorted(usages)}")
    return common_name[len(NODE_PREFIX):], ""
