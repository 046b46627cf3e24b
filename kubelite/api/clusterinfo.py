"""ConfigMap `kube-public/cluster-info`: what a joining node may learn before it trusts anything.

Why its own module in `kubelite.api`: `kubelite up|init` publish it, the
bootstrap signer signs its `kubeconfig`, and `kubelite join` / the kubelet
read it back -- all must agree on the names, the kubeconfig's shape and the
RBAC that lets `system:anonymous` read exactly this one object (kubeadm's
Role and RoleBinding `kubeadm:bootstrap-signer-clusterinfo`).

The kubeconfig carries the HTTPS API's URL and the CA certificate, never a
credential. kubelite's own components speak gRPC, so the gRPC address rides
in a cluster extension (`kubelite.io/grpc-server`) inside the signed
kubeconfig rather than in an unsigned key beside it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubelite.api.core import ConfigMap
from kubelite.api.meta import ObjectMeta
from kubelite.api.rbac import RBAC_GROUP, PolicyRule, Role, RoleBinding, RoleRef, Subject

NAMESPACE = "kube-public"
NAME = "cluster-info"
KUBECONFIG_KEY = "kubeconfig"
RBAC_NAME = "kubeadm:bootstrap-signer-clusterinfo"
ANONYMOUS = "system:anonymous"
GRPC_EXTENSION = "kubelite.io/grpc-server"
NODE_EXTENSION = "kubelite.io/node-config"
# What a joining node takes from cluster-info to run like the control plane's own nodes (camelCase keys,
# as in a KubeletConfiguration): inside the signed kubeconfig, so a node trusts it as much as the CA.
NODE_CONFIG_KEYS = ("podNetwork", "netId", "vxlanPort", "clusterDNS", "clusterDomain", "registry", "registryTLS",
                    "nodeLeaseDurationSeconds")


class ClusterInfoError(ValueError):
    """cluster-info's kubeconfig cannot be used; the message says what is missing."""


@dataclass(frozen=True)
class ClusterInfo:
    server: str  # https://ADDR:PORT (the Kubernetes HTTPS API)
    ca_pem: bytes
    grpc_server: str = ""  # HOST:PORT of kubelite's gRPC API
    node_config: dict[str, str] = field(default_factory=dict)  # NODE_CONFIG_KEYS -> value (runc clusters)


def kubeconfig(info: ClusterInfo) -> str:
    """kubeadm's cluster-info kubeconfig: one unnamed cluster, no users or contexts."""
    cluster: dict[str, Any] = {"certificate-authority-data": base64.b64encode(info.ca_pem).decode(),
                               "server": info.server}
    if info.grpc_server:
        cluster["extensions"] = [{"name": GRPC_EXTENSION, "extension": {"server": info.grpc_server}}]
    if info.node_config:
        cluster.setdefault("extensions", []).append({"name": NODE_EXTENSION, "extension": dict(info.node_config)})
    data: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "", "cluster": cluster}],
            "contexts": None, "current-context": "", "preferences": {}, "users": None}
    return yaml.safe_dump(data, sort_keys=False)


def parse_kubeconfig(text: str) -> ClusterInfo:
    """The server, CA and gRPC address of a cluster-info kubeconfig (ClusterInfoError when unusable)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterInfoError(f"cluster-info kubeconfig is not YAML: {exc}") from None
    clusters = data.get("clusters") if isinstance(data, dict) else None
    if not isinstance(clusters, list) or not clusters or not isinstance(clusters[0], dict):
        raise ClusterInfoError("cluster-info kubeconfig has no cluster")
    cluster = clusters[0].get("cluster")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("server"), str):
        raise ClusterInfoError("cluster-info kubeconfig: clusters[0].cluster.server is missing")
    try:
        ca = base64.b64decode(str(cluster.get("certificate-authority-data", "")), validate=True)
    except ValueError:
        ca = b""
    if not ca:
        raise ClusterInfoError("cluster-info kubeconfig: clusters[0].cluster.certificate-authority-data is missing")
    grpc_server = ""
    node_config: dict[str, str] = {}
    for ext in cluster.get("extensions") or []:
        if not isinstance(ext, dict) or not isinstance(ext.get("extension"), dict):
            continue
        if ext.get("name") == GRPC_EXTENSION:
            grpc_server = str(ext["extension"].get("server", ""))
        elif ext.get("name") == NODE_EXTENSION:
            node_config = {k: str(v) for k, v in ext["extension"].items() if k in NODE_CONFIG_KEYS}
    return ClusterInfo(cluster["server"], ca, grpc_server, node_config)


def config_map(info: ClusterInfo) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=NAME, namespace=NAMESPACE), data={KUBECONFIG_KEY: kubeconfig(info)})


def anonymous_reader() -> tuple[Role, RoleBinding]:
    """`get` on this one ConfigMap for `system:anonymous`, nothing else."""
    meta = ObjectMeta(name=RBAC_NAME, namespace=NAMESPACE)
    role = Role(metadata=meta, rules=[PolicyRule(verbs=["get"], api_groups=[""], resources=["configmaps"],
                                                 resource_names=[NAME])])
    binding = RoleBinding(metadata=meta.model_copy(deep=True),
                          role_ref=RoleRef(api_group=RBAC_GROUP, kind="Role", name=RBAC_NAME),
                          subjects=[Subject(kind="User", name=ANONYMOUS, api_group=RBAC_GROUP)])
    return role, binding


BOOTSTRAP_USER = "tls-bootstrap-token-user"
CLUSTER_NAME = "kubelite"


def bootstrap_kubeconfig(info: ClusterInfo, token: str) -> str:
    """The kubelet's `--bootstrap-kubeconfig` (what kubeadm join writes): the discovered cluster plus
    the bootstrap token as the user, good only for filing the node's first CSR."""
    cluster = yaml.safe_load(kubeconfig(info))["clusters"][0]["cluster"]
    context = f"{BOOTSTRAP_USER}@{CLUSTER_NAME}"
    data: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "clusters": [{"name": CLUSTER_NAME, "cluster": cluster}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": BOOTSTRAP_USER}}],
        "current-context": context, "preferences": {},
        "users": [{"name": BOOTSTRAP_USER, "user": {"token": token}}]}
    return yaml.safe_dump(data, sort_keys=False)


def parse_bootstrap_kubeconfig(text: str) -> tuple[ClusterInfo, str]:
    """(cluster, bootstrap token) of a bootstrap kubeconfig; ClusterInfoError names what is missing."""
    info = parse_kubeconfig(text)
    data = yaml.safe_load(text)
    users = data.get("users") if isinstance(data, dict) else None
    token = ""
    if isinstance(users, list) and users and isinstance(users[0], dict) and isinstance(users[0].get("user"), dict):
        token = str(users[0]["user"].get("token", ""))
    if not token:
        raise ClusterInfoError("bootstrap kubeconfig: users[0].user.token is missing")
    return info, token
