"""The cluster PKI: who each certificate says it is, where it may be reached, who signed it,
and that `ensure` keeps what is valid while `renew` re-issues only validity."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubelite.pki import certs, cli
from kubelite.pki import cluster as pki

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NODES = [("node-1", "10.88.7.11"), ("node-2", "10.88.7.12")]


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    pki.ensure(d, pki.cluster_specs(["10.88.7.1"], NODES), now=NOW)
    return d


def _load(d: Path, name: str) -> certs.KeyPair:
    pair = certs.load(d, name)
    assert pair is not None, name
    return pair


def test_apiserver_serving_certificate_names_every_address_it_is_dialed_at(pki_dir: Path) -> None:
    cert = _load(pki_dir, "apiserver").cert
    dns, ips = certs.sans(cert)
    assert {"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
            "localhost"} <= dns
    assert {"127.0.0.1", "10.88.7.1", "10.96.0.1"} <= ips
    spec = certs.CertSpec.of("apiserver", "ca", cert)
    assert spec.server and not spec.client


def test_kubelet_serving_certificates_carry_their_node_ip(pki_dir: Path) -> None:
    for name, ip in NODES:
        dns, ips = certs.sans(_load(pki_dir, pki.kubelet_serving(name)).cert)
        assert ip in ips and name in dns


@pytest.mark.parametrize(("name", "user", "groups"), [
    ("scheduler", "system:kube-scheduler", []),
    ("controller-manager", "system:kube-controller-manager", []),
    ("proxy", "system:kube-proxy", []),
    ("admin", "kubernetes-admin", ["system:masters"]),
    ("apiserver-kubelet-client", "apiserver-kubelet-client", ["system:masters"]),
    ("apiserver-etcd-client", "apiserver-etcd-client", []),
    ("kubelet-client-node-2", "system:node:node-2", ["system:nodes"]),
])
def test_client_certificates_carry_kubernetes_identities(pki_dir: Path, name: str, user: str,
                                                         groups: list[str]) -> None:
    cert = _load(pki_dir, name).cert
    assert certs.subject_identity(cert) == (user, groups)
    usages = set(cert.extensions.get_extension_for_class(certs.x509.ExtendedKeyUsage).value)
    assert usages == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_chains_storage_certificates_only_to_the_kvstore_ca(pki_dir: Path) -> None:
    ca, kv_ca = _load(pki_dir, pki.CLUSTER_CA).cert, _load(pki_dir, pki.KVSTORE_CA).cert
    assert ca.subject != kv_ca.subject
    for name in ("etcd/server", "etcd/peer", "apiserver-etcd-client"):
        cert = _load(pki_dir, name).cert
        assert certs.problem(cert, kv_ca, NOW) is None
        assert certs.problem(cert, ca, NOW) is not None  # a cluster-CA trust store refuses it
    for name in ("apiserver", "admin", "kubelet-node-1"):
        assert certs.problem(_load(pki_dir, name).cert, ca, NOW) is None
        assert not certs.signed_by(_load(pki_dir, name).cert, kv_ca)
    peer = certs.CertSpec.of("etcd/peer", pki.KVSTORE_CA, _load(pki_dir, "etcd/peer").cert)
    assert peer.server and peer.client  # mutual TLS between members


def test_keys_are_private_and_match_their_certificates(pki_dir: Path) -> None:
    for name in pki.stored_names(pki_dir):
        assert stat.S_IMODE(certs.key_path(pki_dir, name).stat().st_mode) == 0o600
        assert certs.load(pki_dir, name) is not None  # load() checks that the key matches


def test_ensure_is_idempotent_and_adds_only_whats_new(pki_dir: Path) -> None:
    before = {n: certs.cert_path(pki_dir, n).read_bytes() for n in pki.stored_names(pki_dir)}
    assert pki.ensure(pki_dir, pki.cluster_specs(["10.88.7.1"], NODES), now=NOW + dt.timedelta(days=10)) == []
    assert {n: certs.cert_path(pki_dir, n).read_bytes() for n in before} == before
    more = [*NODES, ("node-3", "10.88.7.13")]
    issued = pki.ensure(pki_dir, pki.cluster_specs(["10.88.7.1"], more), now=NOW)
    assert sorted(issued) == ["kubelet-client-node-3", "kubelet-node-3"]


def test_ensure_reissues_near_expiry_wrong_names_and_foreign_signatures(pki_dir: Path, tmp_path: Path) -> None:
    specs = pki.cluster_specs(["10.88.7.1"], NODES)
    old_key = _load(pki_dir, "scheduler").key
    late = NOW + certs.LEAF_VALIDITY - dt.timedelta(days=10)  # inside the renewal window
    issued = pki.ensure(pki_dir, specs, now=late)
    assert "scheduler" in issued and pki.CLUSTER_CA not in issued
    renewed = _load(pki_dir, "scheduler")
    assert renewed.not_after > late + dt.timedelta(days=300)
    assert renewed.key.private_numbers() == old_key.private_numbers()  # same key: only validity changed
    # A certificate from another cluster's CA is replaced.
    other = tmp_path / "other"
    pki.ensure(other, specs, now=NOW)
    for suffix in (".crt", ".key"):
        (pki_dir / f"admin{suffix}").write_bytes((other / f"admin{suffix}").read_bytes())
    assert pki.ensure(pki_dir, specs, now=late) == ["admin"]
    # The control plane moved to another address: the serving certificates follow.
    assert "apiserver" in pki.ensure(pki_dir, pki.cluster_specs(["10.88.8.1"], NODES), now=late)


def test_a_new_ca_reissues_everything_it_signs(pki_dir: Path) -> None:
    certs.cert_path(pki_dir, pki.CLUSTER_CA).unlink()
    issued = set(pki.ensure(pki_dir, pki.cluster_specs(["10.88.7.1"], NODES), now=NOW))
    assert pki.CLUSTER_CA in issued and {"apiserver", "admin", "kubelet-node-1"} <= issued
    assert not issued & {pki.KVSTORE_CA, "etcd/server", "apiserver-etcd-client"}


def test_check_expiration_and_renew(pki_dir: Path) -> None:
    later = NOW + dt.timedelta(days=400)  # every leaf expired, CAs fine
    rows = {r.name: r for r in pki.check_expiration(pki_dir, now=later)}
    assert rows["apiserver"].ca == pki.CLUSTER_CA and rows["apiserver-etcd-client"].ca == pki.KVSTORE_CA
    assert rows["apiserver"].problem and "expired" in rows["apiserver"].problem
    assert rows[pki.CLUSTER_CA].problem is None and rows[pki.CLUSTER_CA].residual > dt.timedelta(days=3000)
    assert "<invalid>" in cli.expiration_table(list(rows.values()))
    assert pki.renew(pki_dir, "apiserver", now=later) == ["apiserver"]
    fixed = {r.name: r for r in pki.check_expiration(pki_dir, now=later)}
    assert fixed["apiserver"].problem is None and fixed["apiserver"].residual > dt.timedelta(days=360)
    assert fixed["admin"].problem is not None
    before = certs.sans(_load(pki_dir, "apiserver").cert)
    renewed = pki.renew(pki_dir, "all", now=later)
    assert pki.CLUSTER_CA not in renewed and "admin" in renewed and "etcd/peer" in renewed
    assert all(r.problem is None for r in pki.check_expiration(pki_dir, now=later))
    assert certs.sans(_load(pki_dir, "apiserver").cert) == before
    assert certs.subject_identity(_load(pki_dir, "admin").cert) == ("kubernetes-admin", ["system:masters"])
    with pytest.raises(ValueError, match="CA"):
        pki.renew(pki_dir, pki.CLUSTER_CA)
    with pytest.raises(ValueError, match="no certificate"):
        pki.renew(pki_dir, "nope")


def test_certs_cli(pki_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--cert-dir", str(pki_dir), "renew", "scheduler"]) == 0
    assert "certificate scheduler renewed" in capsys.readouterr().out
    assert cli.main(["check-expiration", "--cert-dir", str(pki_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["CERTIFICATE", "EXPIRES"]
    assert any(line.startswith("etcd/ca ") and "(CA)" in line for line in out.splitlines())
    assert cli.main(["--cert-dir", str(pki_dir / "missing"), "check-expiration"]) == 1


def test_client_config_round_trips_through_kctl(tmp_path: Path) -> None:
    from kubectl.config import load_config

    path = tmp_path / "config"
    d = tmp_path / "pki"
    path.write_text(pki.client_config("10.88.7.1:6443", pki.admin_tls(d)))
    cfg = load_config(path)
    assert cfg.server == "10.88.7.1:6443"
    tls = cfg.tls()
    assert tls is not None and tls.ca_file == str(d / "ca.crt") and tls.cert_file == str(d / "admin.crt")


def test_a_planned_cluster_uses_tls_on_every_link(tmp_path: Path) -> None:
    from kubelite.settings import ClusterSettings

    plan = ClusterSettings(nodes=2, runtime="runc", kv_members=3).plan(tmp_path)
    for comp in plan.components:
        argv = comp.argv
        if comp.name.startswith("kvstore"):
            assert "--client-cert-auth" in argv and "--peer-client-cert-auth" in argv
            assert "https://" in argv[argv.index("--initial-cluster") + 1]
        elif comp.name == "apiserver":
            assert {"--client-ca-file", "--etcd-certfile", "--kubelet-client-certificate"} <= set(argv)
        else:
            assert "--cacert" in argv and "--cert" in argv, comp.name
        if comp.name.startswith("kubelet-"):
            assert "--client-ca-file" in argv
    specs = {s.name for s in plan.cert_specs()}
    assert {"kubelet-node-1", "kubelet-client-node-2", "proxy", "dns", "admin"} <= specs
