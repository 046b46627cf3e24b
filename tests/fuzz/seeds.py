"""One valid object of every built-in kind kubelite serves: what the fuzzers mutate.

Each seed is small but exercises the kind's interesting fields (numbers with bounds,
nested lists, quantities, selectors), so a mutation lands on something the server
must check. `test_seeds.py` proves every seed is accepted as is -- so a rejection in
the fuzz tests is the mutation's doing.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from kubelite.api import registry
from kubelite.api.certificates import kubelet_client_request
from kubelite.api.ingress import NGINX_CONTROLLER
from kubelite.pki.certs import new_key

Obj = dict[str, Any]
LABELS = {"app": "fz"}
POD_SPEC: Obj = {
    "containers": [{
        "name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "fuzz"}],
        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5},
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }],
    "volumes": [{"name": "scratch", "emptyDir": {}}],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 5,
}
TEMPLATE: Obj = {"metadata": {"labels": LABELS}, "spec": POD_SPEC}
JOB_TEMPLATE: Obj = {"metadata": {"labels": LABELS}, "spec": {**POD_SPEC, "restartPolicy": "Never"}}


@cache
def _csr_request() -> str:
    return kubelet_client_request("fuzz-node", new_key())


def _bodies() -> dict[str, Obj]:
    """kind -> the object without apiVersion/kind/metadata.name (filled in by `seed`)."""
    return {
        "Pod": {"spec": POD_SPEC},
        "Deployment": {"spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": TEMPLATE,
                                "strategy": {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}}},
        "ReplicaSet": {"spec": {"replicas": 1, "selector": {"matchLabels": LABELS}, "template": TEMPLATE}},
        "Service": {"spec": {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        "Endpoints": {"subsets": [{"addresses": [{"ip": "10.244.1.7"}],
                                   "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]},
        "Node": {"spec": {"podCIDR": "10.244.9.0/24", "unschedulable": False}},
        "Namespace": {},
        "ConfigMap": {"data": {"greeting": "hello", "app.conf": "listen 8080\n"}},
        "Secret": {"type": "Opaque", "data": {"password": "c2VjcmV0"}, "stringData": {"user": "admin"}},
        "ServiceAccount": {"automountServiceAccountToken": False},
        "Event": {"involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "apiVersion": "v1"},
                  "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
                  "count": 3, "firstTimestamp": "2026-05-01T10:00:00Z", "lastTimestamp": "2026-05-01T10:05:00Z",
                  "source": {"component": "kubelet", "host": "node-1"}},
        "Lease": {"spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "leaseTransitions": 0}},
        "DaemonSet": {"spec": {"selector": {"matchLabels": LABELS}, "template": TEMPLATE}},
        "StatefulSet": {"spec": {"replicas": 1, "serviceName": "fz", "selector": {"matchLabels": LABELS},
                                 "template": TEMPLATE}},
        "Job": {"spec": {"completions": 2, "parallelism": 1, "backoffLimit": 3, "template": JOB_TEMPLATE}},
        "CronJob": {"spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid",
                             "jobTemplate": {"spec": {"template": JOB_TEMPLATE}}}},
        "Role": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        "ClusterRole": {"rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]},
        "RoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fz"},
                        "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]},
        "ClusterRoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                           "name": "view"},
                               "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]},
        "CertificateSigningRequest": {"spec": {"request": _csr_request(), "signerName": "example.com/manual",
                                               "usages": ["client auth"]}},
        "CustomResourceDefinition": {},  # built in `seed`: its name must match its group and plural
        "ResourceQuota": {"spec": {"hard": {"count/secrets": "500"}}},
        "LimitRange": {"spec": {"limits": [{"type": "Container", "max": {"cpu": "64"}}]}},
        "PersistentVolume": {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                      "hostPath": {"path": "/tmp/fz"}, "storageClassName": "manual"}},
        "PersistentVolumeClaim": {"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                                           "resources": {"requests": {"storage": "1Gi"}}}},
        "StorageClass": {"provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"},
        "PodDisruptionBudget": {"spec": {"minAvailable": 1, "selector": {"matchLabels": LABELS}}},
        "NetworkPolicy": {"spec": {"podSelector": {"matchLabels": LABELS}, "policyTypes": ["Ingress"],
                                   "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 8080}]}]}},
        "Ingress": {"spec": {"rules": [{"host": "fz.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "fz", "port": {"number": 80}}}}]}}]}},
        "IngressClass": {"spec": {"controller": NGINX_CONTROLLER}},
        "HorizontalPodAutoscaler": {"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fz"},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60,
                                       "policies": [{"type": "Percent", "value": 50, "periodSeconds": 15}]}}}},
    }


def kinds() -> list[str]:
    """Every built-in kind, in the registry's order."""
    return [info.kind for info in registry.builtin_kinds()]


def seed(kind: str, name: str) -> Obj:
    """A valid `kind` object called `name` (a fresh copy the caller may mutate)."""
    info = registry.lookup(kind)
    body = copy.deepcopy(_bodies()[kind])
    meta: Obj = {"name": name, "labels": dict(LABELS), "annotations": {"fuzz": "seed"}}
    if kind == "CustomResourceDefinition":
        plural = f"{name.replace('-', '')}s"
        meta["name"] = f"{plural}.fuzz.example.com"
        body = {"spec": {"group": "fuzz.example.com", "scope": "Namespaced",
                         "names": {"plural": plural, "singular": name.replace("-", ""), "kind": "Fz" + name.replace("-", "")},
                         "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                             "type": "object", "properties": {"spec": {
                                 "type": "object", "properties": {"size": {"type": "integer", "maximum": 10}}}}}}}]}}
    return {"apiVersion": info.api_version, "kind": info.kind, "metadata": meta, **body}
