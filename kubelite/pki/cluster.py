"""The PKI of a local cluster: which CAs and certificates exist, for whom, and the daemons' TLS flags.

Why two CAs (as in kubeadm): the kvstore trusts only certificates of its own
CA, so a client certificate of the cluster CA -- a kubelet's, the admin's --
can never talk to storage directly; only the apiserver holds a kvstore client
certificate. Everything else (apiserver, kubelets, their clients) chains to
the cluster CA.

Identities follow Kubernetes: CN is the user, O the groups (`system:node:<n>`
in `system:nodes`, `system:kube-scheduler`, `kubernetes-admin` in
`system:masters`, ...), so the apiserver's authenticator can map a verified
certificate to a user exactly as Kubernetes' x509 authenticator does.

`ensure` is idempotent: a certificate that is valid, signed by its CA, says
what its spec says and has more than `RENEW_BEFORE` left is kept; anything
else is (re)issued. `renew` re-issues existing certificates from their own
content with the same CA and key. Daemons read their files at start, so they
use a renewed certificate after a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubelite.client.tls import ClientTLS
from kubelite.pki.certs import (
    CertSpec,
    KeyPair,
    create_ca,
    is_ca,
    issue,
    load,
    problem,
    sans,
    save,
    signed_by,
    subject_identity,
    utcnow,
)

# Re-exported: the names and flags are part of this module's interface (they live in flags.py).
from kubelite.pki.flags import ADMIN as ADMIN
from kubelite.pki.flags import APISERVER_DNS as APISERVER_DNS
from kubelite.pki.flags import CLUSTER_CA as CLUSTER_CA
from kubelite.pki.flags import KUBELET_CLIENT_USER as KUBELET_CLIENT_USER
from kubelite.pki.flags import KVSTORE_CA as KVSTORE_CA
from kubelite.pki.flags import REGISTRY as REGISTRY
from kubelite.pki.flags import SERVICE_IP as SERVICE_IP
from kubelite.pki.flags import apiserver_flags as apiserver_flags
from kubelite.pki.flags import cert_path as cert_path
from kubelite.pki.flags import client_flags as client_flags
from kubelite.pki.flags import key_path as key_path
from kubelite.pki.flags import kubelet_client as kubelet_client
from kubelite.pki.flags import kubelet_flags as kubelet_flags
from kubelite.pki.flags import kubelet_serving as kubelet_serving
from kubelite.pki.flags import kvstore_flags as kvstore_flags

CAS = {CLUSTER_CA: "kubelite-ca", KVSTORE_CA: "kubelite-kvstore-ca"}
RENEW_BEFORE = dt.timedelta(days=30)


def cluster_specs(control_ips: Iterable[str], nodes: Iterable[tuple[str, str]]) -> list[CertSpec]:
    """Every leaf certificate of a cluster whose control plane listens on `control_ips` and
    whose nodes are `(name, ip)`; each serving certificate names every address it is dialed at
    (the apiserver's also the in-cluster `kubernetes` Service names and ClusterIP). Adding a
    node adds only that node's certificates."""
    nodes = list(nodes)
    control = _unique(["127.0.0.1", *control_ips])
    specs = [
        CertSpec("apiserver", CLUSTER_CA, "kube-apiserver", dns_names=APISERVER_DNS,
                 ips=tuple(_unique([*control, SERVICE_IP])), server=True),
        CertSpec("apiserver-kubelet-client", CLUSTER_CA, KUBELET_CLIENT_USER, ("system:masters",), client=True),
        CertSpec("apiserver-etcd-client", KVSTORE_CA, "apiserver-etcd-client", client=True),
        CertSpec("etcd/server", KVSTORE_CA, "kvstore-server", dns_names=("localhost",), ips=tuple(control),
                 server=True),
        CertSpec("etcd/peer", KVSTORE_CA, "kvstore-peer", dns_names=("localhost",), ips=tuple(control),
                 server=True, client=True),
        CertSpec("scheduler", CLUSTER_CA, "system:kube-scheduler", client=True),
        CertSpec("controller-manager", CLUSTER_CA, "system:kube-controller-manager", client=True),
        CertSpec("proxy", CLUSTER_CA, "system:kube-proxy", client=True),
        CertSpec("ingress", CLUSTER_CA, "system:ingress-nginx", client=True),
        CertSpec("dns", CLUSTER_CA, "system:serviceaccount:kube-system:coredns", client=True),
        CertSpec(ADMIN, CLUSTER_CA, "kubernetes-admin", ("system:masters",), client=True),
        # `kubelite init`'s registry serves TLS at the control-plane addresses (joined nodes verify it)
        CertSpec(REGISTRY, CLUSTER_CA, "kubelite-registry", ips=tuple(control), server=True),
    ]
    for name, ip in nodes:
        specs.append(CertSpec(kubelet_serving(name), CLUSTER_CA, name, dns_names=(name, "localhost"),
                              ips=tuple(_unique([ip, "127.0.0.1"])), server=True))
        specs.append(CertSpec(kubelet_client(name), CLUSTER_CA, f"system:node:{name}", ("system:nodes",),
                              client=True))
    return specs


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _matches(pair: KeyPair, spec: CertSpec) -> bool:
    """Does the stored certificate say at least what the spec asks (identity exact, SANs a superset)?"""
    cn, orgs = subject_identity(pair.cert)
    dns, ips = sans(pair.cert)
    have = CertSpec.of(spec.name, spec.ca, pair.cert)
    return (cn == spec.common_name and sorted(orgs) == sorted(spec.organizations)
            and set(spec.dns_names) <= dns and set(spec.ips) <= ips
            and have.server >= spec.server and have.client >= spec.client)


def ensure(pki_dir: Path, specs: list[CertSpec], *, now: dt.datetime | None = None,
           renew_before: dt.timedelta = RENEW_BEFORE) -> list[str]:
    """Create or repair the PKI under `pki_dir`; returns the names (re)issued, [] when all were kept.

    A missing or broken CA is created anew, which re-issues every certificate it signs.
    """
    now = now or utcnow()
    issued: list[str] = []
    cas: dict[str, KeyPair] = {}
    for name, cn in CAS.items():
        pair = load(pki_dir, name)
        if pair is None or not is_ca(pair.cert) or problem(pair.cert, pair.cert, now) is not None \
                or pair.not_after - now < renew_before:
            pair = create_ca(cn, now=now)
            save(pki_dir, name, pair)
            issued.append(name)
        cas[name] = pair
    for spec in specs:
        ca = cas[spec.ca]
        old = load(pki_dir, spec.name)
        keep = (old is not None and problem(old.cert, ca.cert, now) is None and _matches(old, spec)
                and old.not_after - now >= min(renew_before, ca.not_after - now))
        if not keep:
            save(pki_dir, spec.name, issue(spec, ca, now=now, key=old.key if old is not None else None))
            issued.append(spec.name)
    return issued


def stored_names(pki_dir: Path) -> list[str]:
    """Every certificate name under `pki_dir` ("apiserver", "etcd/peer", ...), CAs included, sorted."""
    names = [str(p.relative_to(pki_dir).with_suffix("")) for p in pki_dir.rglob("*.crt")]
    return sorted(names)


@dataclass(frozen=True)
class Expiration:
    """One row of `kubelite certs check-expiration`."""

    name: str
    expires: dt.datetime
    residual: dt.timedelta
    ca: str  # the signing CA's name ("" for a CA itself)
    problem: str | None = None


def _signer(pki_dir: Path, name: str) -> str:
    """Which of our CAs signed the certificate `name` ("" when none of them)."""
    cert = load(pki_dir, name)
    if cert is None:
        return ""
    for ca_name in CAS:
        ca = load(pki_dir, ca_name)
        if ca is not None and signed_by(cert.cert, ca.cert):
            return ca_name
    return ""


def check_expiration(pki_dir: Path, now: dt.datetime | None = None) -> list[Expiration]:
    """Every stored certificate with its expiry; leaves first, then the CAs (as kubeadm prints them)."""
    now = now or utcnow()
    leaves: list[Expiration] = []
    authorities: list[Expiration] = []
    for name in stored_names(pki_dir):
        pair = load(pki_dir, name)
        if pair is None:
            leaves.append(Expiration(name, now, dt.timedelta(0), "", "unreadable or key does not match"))
            continue
        if name in CAS:
            authorities.append(Expiration(name, pair.not_after, pair.not_after - now, "",
                                          problem(pair.cert, pair.cert, now)))
            continue
        ca_name = _signer(pki_dir, name)
        ca = load(pki_dir, ca_name) if ca_name else None
        why = problem(pair.cert, ca.cert, now) if ca is not None else "not signed by a cluster CA"
        leaves.append(Expiration(name, pair.not_after, pair.not_after - now, ca_name, why))
    return leaves + authorities


def renew(pki_dir: Path, which: str, *, now: dt.datetime | None = None) -> list[str]:
    """Re-issue `which` ("all" or one leaf name) from its CA, keeping its key and its content.

    CAs are not renewed (a new CA would invalidate every certificate and every
    client's trust); `kubelite up` creates a new one only when it is missing or
    about to expire.
    """
    now = now or utcnow()
    leaves = [n for n in stored_names(pki_dir) if n not in CAS]
    if which != "all":
        if which in CAS:
            raise ValueError(f"{which} is a CA; CAs are not renewed (delete it and run `kubelite up` to replace "
                             "the whole PKI)")
        if which not in leaves:
            raise ValueError(f"no certificate {which!r} in {pki_dir}; known: {', '.join(leaves) or 'none'}")
        leaves = [which]
    done: list[str] = []
    for name in leaves:
        ca_name = _signer(pki_dir, name)
        ca = load(pki_dir, ca_name) if ca_name else None
        old = load(pki_dir, name)
        if ca is None or old is None:
            raise ValueError(f"cannot renew {name}: its CA or key is missing or does not match")
        save(pki_dir, name, issue(CertSpec.of(name, ca_name, old.cert), ca, now=now, key=old.key))
        done.append(name)
    return done


def admin_tls(pki_dir: Path) -> ClientTLS:
    """The admin's TLS settings (`kubernetes-admin` in `system:masters`): what `kctl` and `up` use."""
    return ClientTLS(str(cert_path(pki_dir, CLUSTER_CA)), str(cert_path(pki_dir, ADMIN)), str(key_path(pki_dir, ADMIN)))


def client_config(server: str, tls: ClientTLS, context: str = "kubelite") -> str:
    """kctl's config file (YAML) for `server` with these TLS settings."""
    data = {"current-context": context, "contexts": {context: {
        "server": server, "certificate-authority": tls.ca_file, "client-certificate": tls.cert_file,
        "client-key": tls.key_file}}}
    return yaml.safe_dump(data, sort_keys=False)
