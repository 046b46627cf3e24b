"""The Node authorizer (with NodeRestriction's rules): what a kubelet's identity may do.

Why a dedicated authorizer, as in Kubernetes: a node's rights depend on the
cluster's state (which pods are bound to it, what they reference), which RBAC
rules cannot express. A user `system:node:<name>` in group `system:nodes`:

* reads (get, or list/watch pinned to one name) a Secret, ConfigMap or
  PersistentVolumeClaim only when a pod bound to its node references it
  (volumes, projected sources, env, envFrom, imagePullSecrets);
* gets, lists and watches pods, services, endpoints, nodes, namespaces and
  NetworkPolicies (a joined node's proxy runs as the node and enforces them);
* reads PersistentVolumes, and updates only those the local-path provisioner
  placed on its node (annotation `kubelite.io/local-path-node`): the kubelet
  makes and removes their directories and then releases the cleanup finalizer;
* creates, updates and deletes only its own Node (and its status);
* gets, creates, updates and deletes only its own Lease in `kube-node-lease`;
* updates the status of, deletes and evicts only pods bound to it (the kubelet's
  final delete; `kubelite leave` drains its own node as the node); it may not
  create pods (no mirror pods here);
* creates, gets and updates events (kubelite's recorder re-reads an event to
  aggregate repeats);
* creates, gets, lists and watches CertificateSigningRequests (renewing its
  client certificate; what gets approved is the approver's decision);
* creates tokens (`serviceaccounts/token`) only bound to a pod on its node
  that runs as that ServiceAccount (the projected token volumes it fills).
Anything else gets "no opinion" with a reason, so RBAC may still allow it.
Kubernetes splits the write rules into the NodeRestriction admission plugin;
here the authorizer sees the created object's name (`Attributes.body_name`),
so one place holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from apiserver.authn.user import node_name_of
from apiserver.authz.attributes import ALLOW, NO_OPINION, Attributes, Decision, Verdict
from kubelite.api.storage import LOCAL_PATH_NODE_ANNOTATION

NODE_LEASE_NAMESPACE = "kube-node-lease"
COORDINATION = "coordination.k8s.io"
CERTIFICATES = "certificates.k8s.io"
GRAPH_KINDS = {"secrets": "secret", "configmaps": "configmap", "persistentvolumeclaims": "pvc"}
READ_ONLY_KINDS = frozenset({"pods", "services", "endpoints", "nodes", "namespaces"})
NETWORKING = "networking.k8s.io"  # a joined node's proxy enforces NetworkPolicies as the node

Obj = dict[str, Any]


class NodeGraph(Protocol):
    """Read access to the pods the decision depends on (the apiserver's pod watch cache)."""

    def pod(self, namespace: str, name: str) -> Obj | None: ...
    def pods_on_node(self, node: str) -> Iterable[Obj]: ...
    def persistent_volume(self, name: str) -> Obj | None: ...


class StaticGraph:
    """A `NodeGraph` over a fixed list of pod dicts (tests)."""

    def __init__(self, pods: Iterable[Obj], volumes: Iterable[Obj] = ()) -> None:
        self.pods = list(pods)
        self.volumes = {str(_sub(v, "metadata").get("name")): v for v in volumes}

    def pod(self, namespace: str, name: str) -> Obj | None:
        for pod in self.pods:
            meta = pod.get("metadata") or {}
            if meta.get("namespace") == namespace and meta.get("name") == name:
                return pod
        return None

    def pods_on_node(self, node: str) -> list[Obj]:
        return [p for p in self.pods if (p.get("spec") or {}).get("nodeName") == node]

    def persistent_volume(self, name: str) -> Obj | None:
        return self.volumes.get(name)


def _dicts(value: Any) -> Iterator[Obj]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _sub(obj: Any, key: str) -> Obj:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """(kind, name) of every secret, configmap and pvc a pod uses, all in the pod's namespace."""
    spec = _sub(pod, "spec")
    refs: set[tuple[str, str]] = set()

    def add(kind: str, name: Any) -> None:
        if isinstance(name, str) and name:
            refs.add((kind, name))

    for secret in _dicts(spec.get("imagePullSecrets")):
        add("secret", secret.get("name"))
    for volume in _dicts(spec.get("volumes")):
        add("secret", _sub(volume, "secret").get("secretName"))
        add("configmap", _sub(volume, "configMap").get("name"))
        add("pvc", _sub(volume, "persistentVolumeClaim").get("claimName"))
        for source in _dicts(_sub(volume, "projected").get("sources")):
            add("secret", _sub(source, "secret").get("name"))
            add("configmap", _sub(source, "configMap").get("name"))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            for env in _dicts(container.get("env")):
                value_from = _sub(env, "valueFrom")
                add("secret", _sub(value_from, "secretKeyRef").get("name"))
                add("configmap", _sub(value_from, "configMapKeyRef").get("name"))
            for env_from in _dicts(container.get("envFrom")):
                add("secret", _sub(env_from, "secretRef").get("name"))
                add("configmap", _sub(env_from, "configMapRef").get("name"))
    return refs


def _deny(reason: str) -> Verdict:
    return Verdict(Decision.NO_OPINION, reason)


class NodeAuthorizer:
    """Decides requests of node identities; everyone else gets "no opinion"."""

    def __init__(self, graph: NodeGraph) -> None:
        self.graph = graph

    def authorize(self, attrs: Attributes) -> Verdict:
        node = node_name_of(attrs.user)
        if node is None:
            return NO_OPINION
        if not attrs.resource_request:
            return _deny(f"node '{node}' may not access path \"{attrs.path}\"")
        group, resource = attrs.api_group, attrs.resource
        if group == "" and resource in GRAPH_KINDS:
            return self._graph_read(node, attrs, GRAPH_KINDS[resource])
        if group == "" and resource == "nodes":
            return self._own_node(node, attrs)
        if group == "" and resource == "persistentvolumes":
            return self._volume(node, attrs)
        if group == "" and resource == "pods":
            return self._pods(node, attrs)
        if group == COORDINATION and resource == "leases":
            return self._lease(node, attrs)
        if group == "" and resource == "serviceaccounts" and attrs.subresource == "token":
            return self._token(node, attrs)
        if group == "" and resource == "events" and not attrs.subresource:
            return ALLOW if attrs.verb in ("create", "get", "update", "patch") else _deny(
                "nodes may only create and update events")
        if group == NETWORKING and resource == "networkpolicies" and attrs.read_only and not attrs.subresource:
            return ALLOW
        if group == "" and resource in READ_ONLY_KINDS and attrs.read_only and not attrs.subresource:
            return ALLOW
        if group == CERTIFICATES and resource == "certificatesigningrequests" and not attrs.subresource \
                and attrs.verb in ("create", "get", "list", "watch"):
            return ALLOW  # renewing its own client certificate (the approver checks whose it is)
        return _deny(f"node '{node}' is not allowed to {attrs.verb} {resource}")

    def _graph_read(self, node: str, attrs: Attributes, kind: str) -> Verdict:
        if not attrs.read_only or attrs.subresource:
            return _deny("can only read resources of this type")
        if not attrs.name or not attrs.namespace:
            return _deny("can only read individual resources of this type")
        wanted = (kind, attrs.name)
        for pod in self.graph.pods_on_node(node):
            if (_sub(pod, "metadata").get("namespace") == attrs.namespace
                    and wanted in pod_references(pod)):
                return ALLOW
        return _deny(f"no relationship found between node '{node}' and this object")

    @staticmethod
    def _own_node(node: str, attrs: Attributes) -> Verdict:
        if attrs.read_only and not attrs.subresource:
            return ALLOW
        if attrs.subresource not in ("", "status"):
            return _deny(f"nodes may not access nodes/{attrs.subresource}")
        name = attrs.body_name if attrs.verb == "create" else attrs.name
        if attrs.verb not in ("create", "update", "patch", "delete", "get"):
            return _deny(f"node '{node}' may not {attrs.verb} nodes")
        if name != node:
            return _deny(f'node "{node}" is not allowed to modify node "{name}"')
        return ALLOW

    def _volume(self, node: str, attrs: Attributes) -> Verdict:
        if attrs.read_only and not attrs.subresource:
            return ALLOW
        if attrs.verb not in ("update", "patch") or attrs.subresource:
            return _deny(f"node '{node}' may only read persistentvolumes and update its local-path volumes")
        pv = self.graph.persistent_volume(attrs.name) if attrs.name else None
        owner = _sub(_sub(pv, "metadata"), "annotations").get(LOCAL_PATH_NODE_ANNOTATION) if pv else None
        if owner != node:
            return _deny(f"no relationship found between node '{node}' and this object")
        return ALLOW

    def _pods(self, node: str, attrs: Attributes) -> Verdict:
        sub = attrs.subresource
        if attrs.read_only and not sub:
            return ALLOW
        if (attrs.verb in ("update", "patch") and sub == "status") or (attrs.verb == "delete" and not sub) \
                or (attrs.verb == "create" and sub == "eviction"):
            pod = self.graph.pod(attrs.namespace, attrs.name) if attrs.name else None
            if pod is None:
                return _deny(f"no relationship found between node '{node}' and this object")
            bound = _sub(pod, "spec").get("nodeName")
            if bound != node:
                return _deny(f"node \"{node}\" can only modify pods bound to itself, not to \"{bound or ''}\"")
            return ALLOW
        if attrs.verb == "create" and not sub:
            return _deny("nodes may not create pods (mirror pods are not supported)")
        return _deny(f"node '{node}' is not allowed to {attrs.verb} pods{'/' + sub if sub else ''}")

    def _token(self, node: str, attrs: Attributes) -> Verdict:
        if attrs.verb != "create":
            return _deny(f"node '{node}' may only create serviceaccounts/token")
        pod = self.graph.pod(attrs.namespace, attrs.bound_pod) if attrs.bound_pod else None
        if pod is None or _sub(pod, "spec").get("nodeName") != node:
            return _deny(f"node '{node}' may only request tokens bound to its own pods")
        if (_sub(pod, "spec").get("serviceAccountName") or "default") != attrs.name:
            return _deny(f"pod \"{attrs.bound_pod}\" does not run as service account \"{attrs.name}\"")
        return ALLOW

    @staticmethod
    def _lease(node: str, attrs: Attributes) -> Verdict:
        if attrs.subresource or attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return _deny(f"node '{node}' may not {attrs.verb} leases")
        name = attrs.body_name if attrs.verb == "create" else attrs.name
        if attrs.namespace != NODE_LEASE_NAMESPACE or name != node:
            return _deny(f"can only access node lease with the same name as the requesting node "
                         f"in namespace {NODE_LEASE_NAMESPACE}")
        return ALLOW
