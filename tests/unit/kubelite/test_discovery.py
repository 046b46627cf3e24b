"""Token discovery's checks: the CA public-key hash (kubeadm's format) and the verdicts on cluster-info."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kubelite.api import bootstraptoken as bt
from kubelite.api import clusterinfo as ci
from kubelite.bootstrap.discovery import DiscoveryError, ca_cert_hash, parse_pins, verify
from kubelite.pki.certs import create_ca

TOKEN = "abcdef.0123456789abcdef"


def ca_pem(name: str = "kubelite-ca") -> bytes:
    return create_ca(name).cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed (used as an oracle)")
def test_ca_hash_is_sha256_of_the_der_subject_public_key_info(tmp_path: Path) -> None:
    pem = ca_pem()
    (tmp_path / "ca.crt").write_bytes(pem)
    pub = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "ca.crt"), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                         check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-hex"], input=der, capture_output=True,
                            check=True).stdout.decode().split()[-1]
    assert ca_cert_hash(pem) == f"sha256:{digest}"


def signed(kubeconfig: str, token: str = TOKEN) -> dict[str, str]:
    return {ci.KUBECONFIG_KEY: kubeconfig, bt.JWS_KEY_PREFIX + token[:6]: bt.sign_detached(kubeconfig, token)}


def test_verified_cluster_info_yields_server_ca_and_grpc_address() -> None:
    pem = ca_pem()
    kubeconfig = ci.kubeconfig(ci.ClusterInfo("https://10.0.0.5:6445", pem, "10.0.0.5:6443"))
    info = verify(signed(kubeconfig), TOKEN, {ca_cert_hash(pem)})
    assert (info.server, info.ca_pem, info.grpc_server) == ("https://10.0.0.5:6445", pem, "10.0.0.5:6443")


def test_refusals_say_why() -> None:
    pem = ca_pem()
    kubeconfig = ci.kubeconfig(ci.ClusterInfo("https://10.0.0.5:6445", pem))
    pins = {ca_cert_hash(pem)}
    with pytest.raises(DiscoveryError, match="invalid for this cluster or it has expired"):
        verify(signed(kubeconfig, "zzzzzz.0123456789abcdef"), TOKEN, pins)  # not signed with our token
    with pytest.raises(DiscoveryError, match="failed to verify the JWS"):
        verify(signed(kubeconfig, "abcdef.ffffffffffffffff"), TOKEN, pins)  # same id, another cluster's secret
    tampered = signed(kubeconfig)
    tampered[ci.KUBECONFIG_KEY] = kubeconfig.replace("10.0.0.5", "10.6.6.6")
    with pytest.raises(DiscoveryError, match="failed to verify the JWS"):
        verify(tampered, TOKEN, pins)
    with pytest.raises(DiscoveryError, match="is not one of the pinned hashes"):
        verify(signed(kubeconfig), TOKEN, {ca_cert_hash(ca_pem("another-ca"))})


def test_pins_must_be_sha256_hex() -> None:
    assert parse_pins(["SHA256:" + "A" * 64]) == {"sha256:" + "a" * 64}
    for bad in ("md5:" + "0" * 32, "sha256:xyz", "0" * 64):
        with pytest.raises(DiscoveryError, match="expected sha256:<64 hex digits>"):
            parse_pins([bad])
