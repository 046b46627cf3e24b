"""The names, file paths and daemon TLS flags of a local cluster's PKI, without the crypto.

Why apart from `kubelite.pki.cluster`: planning a cluster (which files each daemon gets
on its command line) needs only names and paths, and the long-lived supervisor plans
the cluster it runs. Importing `cryptography` and the certificate helpers there cost
it ~35 MB for nothing; this module imports neither.
"""

from __future__ import annotations

from pathlib import Path

CLUSTER_CA = "ca"
KVSTORE_CA = "etcd/ca"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service's ClusterIP (first address of the Service range)
APISERVER_DNS = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
                 "localhost")
KUBELET_CLIENT_USER = "apiserver-kubelet-client"
REGISTRY = "registry"
ADMIN = "admin"


def kubelet_serving(node: str) -> str:
    return f"kubelet-{node}"


def kubelet_client(node: str) -> str:
    return f"kubelet-client-{node}"




def cert_path(pki_dir: Path, name: str) -> Path:
    return pki_dir / f"{name}.crt"


def key_path(pki_dir: Path, name: str) -> Path:
    return pki_dir / f"{name}.key"


# --------------------------------------------------------------------- daemon flags

def _pair_args(pki_dir: Path, name: str, cert_flag: str, key_flag: str) -> list[str]:
    return [cert_flag, str(cert_path(pki_dir, name)), key_flag, str(key_path(pki_dir, name))]


def client_flags(pki_dir: Path, name: str) -> list[str]:
    """`--cacert --cert --key` of a component talking to the apiserver as certificate `name`."""
    return ["--cacert", str(cert_path(pki_dir, CLUSTER_CA)), *_pair_args(pki_dir, name, "--cert", "--key")]


def kvstore_flags(pki_dir: Path) -> list[str]:
    """etcd's own flags: client port and peer port both require certificates of the kvstore CA."""
    ca = str(cert_path(pki_dir, KVSTORE_CA))
    return [*_pair_args(pki_dir, "etcd/server", "--cert-file", "--key-file"), "--trusted-ca-file", ca,
            "--client-cert-auth",
            *_pair_args(pki_dir, "etcd/peer", "--peer-cert-file", "--peer-key-file"), "--peer-trusted-ca-file", ca,
            "--peer-client-cert-auth"]


def apiserver_flags(pki_dir: Path) -> list[str]:
    """kube-apiserver's flags: its serving pair, the CA for client certificates, storage and kubelet clients."""
    ca = str(cert_path(pki_dir, CLUSTER_CA))
    return [*_pair_args(pki_dir, "apiserver", "--tls-cert-file", "--tls-private-key-file"), "--client-ca-file", ca,
            "--etcd-cafile", str(cert_path(pki_dir, KVSTORE_CA)),
            *_pair_args(pki_dir, "apiserver-etcd-client", "--etcd-certfile", "--etcd-keyfile"),
            *_pair_args(pki_dir, "apiserver-kubelet-client", "--kubelet-client-certificate", "--kubelet-client-key"),
            "--kubelet-certificate-authority", ca]


def kubelet_flags(pki_dir: Path, node: str) -> list[str]:
    """A kubelet's serving pair (its exec/logs port, clients must present a cluster-CA certificate)
    and its client identity `system:node:<node>`."""
    return [*_pair_args(pki_dir, kubelet_serving(node), "--tls-cert-file", "--tls-private-key-file"),
            "--client-ca-file", str(cert_path(pki_dir, CLUSTER_CA)), *client_flags(pki_dir, kubelet_client(node))]
