"""The default RBAC policy the apiserver creates at start when RBAC is on (Kubernetes' bootstrap policy).

Why these roles: they are Kubernetes' names and shapes (so docs, manifests and
habits carry over), trimmed to the kinds kubelite serves, and each control-
plane role grants what that component's code actually calls:

* scheduler: informers on pods and nodes, Bind, pod status (unschedulable
  condition), events, its Lease `kube-system/kube-scheduler`;
* controller-manager: every controller runs under this one identity (like
  Kubernetes without --use-service-account-credentials); the namespace and
  garbage collectors list, update and delete objects of every kind, the
  workload controllers create pods, ReplicaSets, Jobs, Endpoints and events,
  leader election uses Lease `kube-system/kube-controller-manager`;
* kube-proxy and cluster DNS: list/watch Services and Endpoints (+ nodes, events);
  `kubelite up`'s DNS runs as ServiceAccount `kube-system:coredns` (CoreDNS'
  own `system:coredns` role: + pods and namespaces);
* kubelets are served by the Node authorizer (`system:node` exists for an
  RBAC-only setup but, as in Kubernetes, is bound to nobody).

Objects are created only when missing: an administrator's edits to them stick.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from kubelite.api.errors import AlreadyExists
from kubelite.api.meta import LabelSelector, ObjectMeta, Resource
from kubelite.api.rbac import (
    RBAC_GROUP,
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    RoleRef,
    Subject,
)

AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-{}"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
ALL_WORKLOAD_GROUPS = ["", "apps", "batch"]
CERTIFICATES = "certificates.k8s.io"
BOOTSTRAPPERS = "system:bootstrappers"


def rule(verbs: Sequence[str], groups: Sequence[str], resources: Sequence[str],
         names: Sequence[str] = ()) -> PolicyRule:
    return PolicyRule(verbs=list(verbs), api_groups=list(groups), resources=list(resources),
                      resource_names=list(names))


def url_rule(verbs: Sequence[str], urls: Sequence[str]) -> PolicyRule:
    return PolicyRule(verbs=list(verbs), non_resource_urls=list(urls))


def cluster_role(name: str, rules: Sequence[PolicyRule], *, labels: dict[str, str] | None = None,
                 aggregate: str = "") -> ClusterRole:
    meta = ObjectMeta(name=name, labels={**BOOTSTRAP_LABELS, **(labels or {})}, annotations=dict(AUTOUPDATE))
    aggregation = None
    if aggregate:
        selector = LabelSelector(match_labels={AGGREGATE_TO.format(aggregate): "true"})
        aggregation = AggregationRule(cluster_role_selectors=[selector])
    return ClusterRole(metadata=meta, rules=list(rules), aggregation_rule=aggregation)


def binding(name: str, role: str, *subjects: tuple[str, str]) -> ClusterRoleBinding:
    """A ClusterRoleBinding of ClusterRole `role` to (kind, name) subjects (User/Group)."""
    meta = ObjectMeta(name=name, labels=dict(BOOTSTRAP_LABELS), annotations=dict(AUTOUPDATE))
    return ClusterRoleBinding(
        metadata=meta, role_ref=RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=role),
        subjects=[Subject(kind=kind, name=who, api_group=RBAC_GROUP) for kind, who in subjects],
    )


_VIEWABLE = ["pods", "pods/log", "pods/status", "services", "services/status", "endpoints", "configmaps",
             "events", "persistentvolumeclaims", "persistentvolumeclaims/status", "serviceaccounts",
             "replicationcontrollers", "replicationcontrollers/scale", "replicationcontrollers/status",
             "resourcequotas", "resourcequotas/status", "limitranges", "bindings"]
_APPS = ["deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
         "replicasets/status", "daemonsets", "daemonsets/status", "statefulsets", "statefulsets/scale",
         "statefulsets/status", "controllerrevisions"]
_BATCH = ["jobs", "jobs/status", "cronjobs", "cronjobs/status"]
_EDITABLE = ["pods", "pods/exec", "pods/attach", "pods/portforward", "pods/eviction", "services", "endpoints",
             "configmaps", "secrets", "persistentvolumeclaims", "serviceaccounts", "replicationcontrollers",
             "replicationcontrollers/scale"]


def _user_facing() -> list[ClusterRole]:
    """cluster-admin, admin, edit, view and the aggregated pieces admin/edit/view are made of."""
    to = AGGREGATE_TO.format
    return [
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]),
        cluster_role("admin", [], aggregate="admin"),
        cluster_role("edit", [], aggregate="edit", labels={to("admin"): "true"}),
        cluster_role("view", [], aggregate="view", labels={to("edit"): "true"}),
        cluster_role("system:aggregate-to-admin", [
            rule(READ + WRITE, [RBAC_GROUP], ["roles", "rolebindings"]),
            rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        ], labels={to("admin"): "true"}),
        cluster_role("system:aggregate-to-edit", [
            rule(WRITE, [""], _EDITABLE),
            rule(READ, [""], ["secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
            rule(["impersonate"], [""], ["serviceaccounts"]),
            rule(WRITE, ["apps"], [r for r in _APPS if not r.endswith("/status")]),
            rule(WRITE, ["batch"], ["jobs", "cronjobs"]),
            rule(WRITE, ["networking.k8s.io"], ["networkpolicies"]),
            rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
            rule(["create", "delete", "deletecollection", "patch", "update"], ["coordination.k8s.io"], ["leases"]),
        ], labels={to("edit"): "true"}),
        cluster_role("system:aggregate-to-view", [
            rule(READ, [""], _VIEWABLE),
            rule(READ, [""], ["namespaces", "namespaces/status"]),
            rule(READ, ["apps"], _APPS),
            rule(READ, ["batch"], _BATCH),
            rule(READ, ["networking.k8s.io"], ["networkpolicies"]),
            rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            rule(READ, ["coordination.k8s.io"], ["leases"]),
        ], labels={to("view"): "true"}),
        # As metrics-server installs it: reading usage is part of viewing (and so of edit and admin).
        cluster_role("system:aggregated-metrics-reader", [rule(["get", "list"], ["metrics.k8s.io"], ["nodes", "pods"])],
                     labels={to("view"): "true"}),
    ]


def _discovery() -> list[ClusterRole]:
    return [
        cluster_role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ]),
        cluster_role("system:discovery", [url_rule(["get"], [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"])]),
        cluster_role("system:public-info-viewer", [url_rule(["get"], [
            "/healthz", "/livez", "/readyz", "/version", "/version/"])]),
    ]


def _components() -> list[ClusterRole]:
    events = rule(["create", "get", "patch", "update"], ["", "events.k8s.io"], ["events"])
    return [
        cluster_role("system:kube-scheduler", [
            events,
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
            rule(READ, [""], ["nodes", "namespaces", "services", "persistentvolumeclaims", "persistentvolumes",
                              "replicationcontrollers"]),
            rule(["delete", "get", "list", "watch"], [""], ["pods"]),
            rule(["create"], [""], ["bindings", "pods/binding"]),
            rule(["patch", "update"], [""], ["pods/status"]),
            rule(["list", "watch"], ["apps"], ["replicasets", "statefulsets"]),
            rule(["patch", "update"], [""], ["persistentvolumeclaims"]),  # volume.kubernetes.io/selected-node
            rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        ]),
        cluster_role("system:kube-controller-manager", [
            events,
            # garbage collector and namespace controller: every kind, every namespace
            rule(READ + ["update", "patch", "delete", "deletecollection"], ["*"], ["*"]),
            rule(["update", "patch"], ["*"], ["*/status", "*/finalize", "*/scale"]),
            rule(["create"], ["", "apps", "batch"], ["pods", "endpoints", "replicasets", "jobs", "services",
                                                    "namespaces", "secrets", "configmaps", "serviceaccounts"]),
            rule(["create"], ["", "apps"], ["controllerrevisions", "persistentvolumeclaims", "persistentvolumes",
                                            "events"]),
            rule(["create"], [""], ["serviceaccounts/token"]),
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            # csrapproving and csrsigning: decide and issue kubelet client certificates
            rule(["update", "patch"], [CERTIFICATES], ["certificatesigningrequests/approval"]),
            rule(["approve", "sign"], [CERTIFICATES], ["signers"], ["kubernetes.io/kube-apiserver-client-kubelet",
                                                                         "kubernetes.io/kubelet-serving"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        ]),
        cluster_role("system:node-proxier", [
            rule(["list", "watch"], [""], ["services", "endpoints"]),
            # NetworkPolicy enforcement: pods (IPs, labels), namespaces (labels) and the policies
            rule(["list", "watch"], [""], ["pods", "namespaces"]),
            rule(["list", "watch"], ["networking.k8s.io"], ["networkpolicies"]),
            rule(READ, [""], ["nodes"]),
            rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
            rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
        ]),
        cluster_role("system:ingress-nginx", [  # the nginx ingress agent on every node
            rule(["list", "watch"], [""], ["services", "endpoints", "secrets"]),
            rule(["list", "watch"], ["networking.k8s.io"], ["ingresses", "ingressclasses"]),
            rule(["update", "patch"], ["networking.k8s.io"], ["ingresses/status"]),
            rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
        ]),
        cluster_role("system:kube-dns", [rule(["list", "watch"], [""], ["services", "endpoints"])]),
        cluster_role("system:coredns", [
            rule(["list", "watch"], [""], ["services", "endpoints", "pods", "namespaces"]),
            rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        ]),
        cluster_role("system:node", [
            rule(READ + ["create", "update", "patch", "delete"], [""], ["nodes"]),
            rule(["patch", "update"], [""], ["nodes/status"]),
            rule(READ + ["delete"], [""], ["pods"]),
            rule(["patch", "update"], [""], ["pods/status"]),
            rule(READ, [""], ["services", "endpoints"]),
            # a joined node's proxy runs as the node and enforces NetworkPolicies
            rule(["list", "watch"], [""], ["namespaces"]),
            rule(["list", "watch"], ["networking.k8s.io"], ["networkpolicies"]),
            rule(["get"], [""], ["secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"]),
            events,
            rule(["get", "create", "update", "patch", "delete"], ["coordination.k8s.io"], ["leases"]),
        ]),
    ]


NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"


def _tls_bootstrap() -> list[ClusterRole]:
    """kubeadm's TLS bootstrap roles: joining nodes (`system:bootstrappers`) may file CSRs, and the
    auto-approval grants a bootstrapper a node client certificate and a node the renewal of its own."""
    csrs = "certificatesigningrequests"
    return [
        cluster_role("system:node-bootstrapper", [rule(["create", "get", "list", "watch"], [CERTIFICATES], [csrs])]),
        cluster_role(NODE_CLIENT, [rule(["create"], [CERTIFICATES], [f"{csrs}/nodeclient"])]),
        cluster_role(SELF_NODE_CLIENT, [rule(["create"], [CERTIFICATES], [f"{csrs}/selfnodeclient"])]),
    ]


def default_cluster_roles() -> list[ClusterRole]:
    return _user_facing() + _discovery() + _components() + _tls_bootstrap()


def default_cluster_role_bindings() -> list[ClusterRoleBinding]:
    authenticated = ("Group", "system:authenticated")
    return [
        binding("cluster-admin", "cluster-admin", ("Group", "system:masters")),
        binding("system:basic-user", "system:basic-user", authenticated),
        binding("system:discovery", "system:discovery", authenticated),
        binding("system:public-info-viewer", "system:public-info-viewer", authenticated,
                ("Group", "system:unauthenticated")),
        binding("system:kube-scheduler", "system:kube-scheduler", ("User", "system:kube-scheduler")),
        binding("system:kube-controller-manager", "system:kube-controller-manager",
                ("User", "system:kube-controller-manager")),
        binding("system:node-proxier", "system:node-proxier", ("User", "system:kube-proxy")),
        binding("system:kube-dns", "system:kube-dns", ("User", "system:kube-dns")),
        binding("system:ingress-nginx", "system:ingress-nginx", ("User", "system:ingress-nginx")),
        _service_account_binding("system:coredns", "system:coredns", "kube-system", "coredns"),
        binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", ("Group", BOOTSTRAPPERS)),
        binding("kubeadm:node-autoapprove-bootstrap", NODE_CLIENT, ("Group", BOOTSTRAPPERS)),
        binding("kubeadm:node-autoapprove-certificate-rotation", SELF_NODE_CLIENT, ("Group", "system:nodes")),
    ]


def _service_account_binding(name: str, role: str, namespace: str, account: str) -> ClusterRoleBinding:
    crb = binding(name, role)
    crb.subjects = [Subject(kind="ServiceAccount", name=account, namespace=namespace)]
    return crb


def default_policy() -> list[Resource]:
    return [*default_cluster_roles(), *default_cluster_role_bindings()]


def reconciled(stored: Resource, default: Resource) -> Resource | None:
    """`stored` with what `default` grants added (missing rules of a ClusterRole, missing subjects of a
    ClusterRoleBinding), or None when nothing is missing or an admin opted out (`autoupdate: "false"`).

    Why add and never remove, as Kubernetes' reconciliation at start-up does: a cluster created by an
    older kubelite must gain the permissions newer components need (e.g. the proxy reading
    NetworkPolicies), while what an admin added stays."""
    if any((stored.metadata.annotations or {}).get(key) == "false" for key in AUTOUPDATE):
        return None
    if isinstance(stored, ClusterRole) and isinstance(default, ClusterRole):
        missing = [r for r in default.rules if r not in stored.rules]
        if not missing:
            return None
        role = stored.model_copy(deep=True)
        role.rules = [*stored.rules, *missing]
        return role
    if isinstance(stored, ClusterRoleBinding) and isinstance(default, ClusterRoleBinding):
        absent = [s for s in default.subjects if s not in stored.subjects]
        if not absent:
            return None
        bound = stored.model_copy(deep=True)
        bound.subjects = [*stored.subjects, *absent]
        return bound
    return None


async def ensure_default_policy(create: Callable[[str, Resource], Awaitable[object]],
                                reconcile: Callable[[str, Resource], Awaitable[object]] | None = None) -> int:
    """Create each default object that is missing via `create(resource, obj)`, and hand each existing one
    to `reconcile(resource, default)` (which adds what is missing, see `reconciled`); how many were created."""
    created = 0
    for obj in default_policy():
        resource = "clusterroles" if isinstance(obj, ClusterRole) else "clusterrolebindings"
        try:
            await create(resource, obj)
            created += 1
        except AlreadyExists:
            if reconcile is not None:
                await reconcile(resource, obj)
    return created
