"""The kubelet's certificate checks: which stored certificate it keeps, and when it renews."""

from __future__ import annotations

import datetime as dt

from kubelet.tlsbootstrap import renewal_time, usable
from kubelite.pki.certs import CertSpec, KeyPair, create_ca, issue

NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)


def node_cert(ca_name: str = "ca", node: str = "n1", days: int = 100) -> tuple[KeyPair, KeyPair]:
    ca = create_ca(ca_name, now=NOW)
    leaf = issue(CertSpec("k", "ca", f"system:node:{node}", ("system:nodes",), client=True), ca, now=NOW,
                 validity=dt.timedelta(days=days))
    return ca, leaf


def test_a_certificate_is_usable_only_for_its_node_its_ca_and_its_validity() -> None:
    ca, leaf = node_cert()
    other_ca, _ = node_cert("other")
    assert usable(leaf.cert, ca.cert, "n1", NOW)
    assert not usable(leaf.cert, ca.cert, "n2", NOW)
    assert not usable(leaf.cert, other_ca.cert, "n1", NOW)
    assert not usable(leaf.cert, ca.cert, "n1", NOW + dt.timedelta(days=101))


def test_renewal_comes_at_seventy_percent_of_the_lifetime() -> None:
    _, leaf = node_cert(days=100)
    cert = leaf.cert
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert renewal_time(cert) == cert.not_valid_before_utc + lifetime * 0.7
