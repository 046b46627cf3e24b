"""Build apiserver/http/protobuf_schema.json: the protobuf field numbers of the Kubernetes kinds kubelite serves.

Why: kubectl 1.32's typed clients (`create deployment|service|configmap|secret|namespace`, `auth can-i`,
`drain`) send `application/vnd.kubernetes.protobuf` bodies and do not fall back to JSON on 415, so the
apiserver must read that wire format. The facts it needs -- for each message, each field's number,
JSON name, type, and whether Go's JSON would omit its zero value -- are the `protobuf:"..."` and
`json:"..."` struct tags of the Go API types; this tool extracts them from checkouts of k8s.io/api and
k8s.io/apimachinery at a release branch (git object names, nothing is copied but the facts) and keeps
only what the served kinds reach.

    python tools/gen_protobuf_schema.py API_GIT_DIR APIMACHINERY_GIT_DIR release-1.32 > apiserver/http/protobuf_schema.json
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

PACKAGES = {  # our package key -> (repo index, path)
    "meta": (1, "pkg/apis/meta/v1"), "core": (0, "core/v1"), "apps": (0, "apps/v1"), "batch": (0, "batch/v1"),
    "rbac": (0, "rbac/v1"), "authorization": (0, "authorization/v1"), "authentication": (0, "authentication/v1"),
    "policy": (0, "policy/v1"), "coordination": (0, "coordination/v1"), "autoscaling": (0, "autoscaling/v1"),
    "certificates": (0, "certificates/v1"),
    "storage": (0, "storage/v1"),
}
ROOTS = {  # apiVersion/kind -> message
    "v1/ConfigMap": "core.ConfigMap", "v1/Endpoints": "core.Endpoints", "v1/Event": "core.Event",
    "v1/Namespace": "core.Namespace", "v1/Node": "core.Node", "v1/Pod": "core.Pod", "v1/Secret": "core.Secret",
    "v1/Service": "core.Service", "v1/ServiceAccount": "core.ServiceAccount",
    "apps/v1/DaemonSet": "apps.DaemonSet", "apps/v1/Deployment": "apps.Deployment",
    "apps/v1/ReplicaSet": "apps.ReplicaSet", "apps/v1/StatefulSet": "apps.StatefulSet",
    "batch/v1/CronJob": "batch.CronJob", "batch/v1/Job": "batch.Job",
    "coordination.k8s.io/v1/Lease": "coordination.Lease",
    "rbac.authorization.k8s.io/v1/ClusterRole": "rbac.ClusterRole",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "rbac.ClusterRoleBinding",
    "rbac.authorization.k8s.io/v1/Role": "rbac.Role", "rbac.authorization.k8s.io/v1/RoleBinding": "rbac.RoleBinding",
    "authorization.k8s.io/v1/SelfSubjectAccessReview": "authorization.SelfSubjectAccessReview",
    "authentication.k8s.io/v1/SelfSubjectReview": "authentication.SelfSubjectReview",
    "authentication.k8s.io/v1/TokenRequest": "authentication.TokenRequest",
    "authorization.k8s.io/v1/SelfSubjectRulesReview": "authorization.SelfSubjectRulesReview",
    "certificates.k8s.io/v1/CertificateSigningRequest": "certificates.CertificateSigningRequest",
    "policy/v1/Eviction": "policy.Eviction", "meta.k8s.io/v1/DeleteOptions": "meta.DeleteOptions",
    "v1/DeleteOptions": "meta.DeleteOptions", "autoscaling/v1/Scale": "autoscaling.Scale",
    "v1/PersistentVolume": "core.PersistentVolume", "v1/PersistentVolumeClaim": "core.PersistentVolumeClaim",
    "storage.k8s.io/v1/StorageClass": "storage.StorageClass",
    "v1/ResourceQuota": "core.ResourceQuota", "v1/LimitRange": "core.LimitRange",
    "policy/v1/PodDisruptionBudget": "policy.PodDisruptionBudget",
    "autoscaling/v1/HorizontalPodAutoscaler": "autoscaling.HorizontalPodAutoscaler",
}
SPECIAL = {  # Go types with their own JSON form
    "metav1.Time": "time", "metav1.MicroTime": "time", "Time": "time", "MicroTime": "time",
    "intstr.IntOrString": "intorstr", "resource.Quantity": "quantity", "metav1.Duration": "duration",
    "Duration": "duration", "types.UID": "string", "metav1.FieldsV1": "rawjson", "FieldsV1": "rawjson",
    "runtime.RawExtension": "rawjson",
}
BUILTIN = {"string": "string", "bool": "bool", "int32": "int", "int64": "int", "int": "int", "uint16": "int",
           "uint32": "int", "uint64": "int", "float64": "double", "byte": "int"}
ALIASES = {"metav1": "meta", "v1": "core", "corev1": "core"}
STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
NAMED = re.compile(r"^type (\w+) (\[\]string|string|int32|int64|bool|map\[[\w.]+\][\w.\[\]]+)$", re.M)
FIELD = re.compile(r"^\s+(?:(\w+)\s+)?([\w.*\[\]]+(?:\[[\w.]+\][\w.*\[\]]+)?)\s+`([^`]*)`", re.M)


def sources(repos: list[str], branch: str, path: str, repo: int) -> str:
    files = subprocess.run(["git", "--git-dir", repos[repo], "ls-tree", "--name-only", f"{branch}:{path}"],
                           check=True, capture_output=True, text=True).stdout.split()
    return "\n".join(subprocess.run(["git", "--git-dir", repos[repo], "show", f"{branch}:{path}/{f}"], check=True,
                                    capture_output=True, text=True).stdout
                     for f in files if f.startswith("types") and f.endswith(".go") and not f.endswith("_test.go"))


def parse(text: str) -> tuple[dict[str, list[tuple[str | None, str, str]]], dict[str, str]]:
    structs = {m.group(1): [(f.group(1), f.group(2), f.group(3)) for f in FIELD.finditer(m.group(2))]
               for m in STRUCT.finditer(text)}
    named = {m.group(1): m.group(2) for m in NAMED.finditer(text)}
    return structs, named


def main() -> None:
    repos, branch = sys.argv[1:3], sys.argv[3]
    structs: dict[str, dict[str, list[tuple[str | None, str, str]]]] = {}
    named: dict[str, dict[str, str]] = {}
    for key, (repo, path) in PACKAGES.items():
        structs[key], named[key] = parse(sources(repos, branch, path, repo))
    out: dict[str, Any] = {}

    def resolve(pkg: str, go: str) -> tuple[str, bool, bool]:
        """(type, repeated, map) of a Go type without the pointer star."""
        if go in SPECIAL or f"{pkg}.{go}" in SPECIAL:
            return SPECIAL.get(go, SPECIAL.get(f"{pkg}.{go}", "")), False, False
        if go == "[]byte":
            return "bytes", False, False
        if go.startswith("[]"):
            inner, _, _ = resolve(pkg, go[2:].lstrip("*"))
            return inner, True, False
        if go.startswith("map["):
            value = go[go.index("]") + 1:]
            inner, rep, _ = resolve(pkg, value.lstrip("*"))
            return ("list:" + inner if rep else inner), False, True
        if go in BUILTIN:
            return BUILTIN[go], False, False
        if "." in go:
            alias, name = go.split(".", 1)
            pkg = ALIASES.get(alias, alias)
            go = name
            if f"{alias}.{name}" in SPECIAL:
                return SPECIAL[f"{alias}.{name}"], False, False
        if go in named.get(pkg, {}):
            base = named[pkg][go]
            if base == "[]string":
                return "string", True, False
            if base.startswith("map["):
                return resolve(pkg, base)
            return BUILTIN[base], False, False
        if go not in structs.get(pkg, {}):
            raise SystemExit(f"unknown Go type {pkg}.{go}")
        visit(pkg, go)
        return f"{pkg}.{go}", False, False

    def visit(pkg: str, name: str) -> None:
        key = f"{pkg}.{name}"
        if key in out:
            return
        out[key] = {}
        for _, go, tags in structs[pkg][name]:
            proto = re.search(r'protobuf:"([^"]*)"', tags)
            js = re.search(r'json:"([^"]*)"', tags)
            if proto is None or js is None:
                continue  # TypeMeta and other JSON-only fields
            parts = proto.group(1).split(",")
            number = parts[1]
            json_name, *opts = js.group(1).split(",")
            pointer = go.startswith("*")
            kind, repeated, is_map = resolve(pkg, go.lstrip("*"))
            flags = []
            if repeated:  # not the tag: Kubernetes tags one bool (SubjectRulesReviewStatus.incomplete) "rep"
                flags.append("rep")
            if is_map:
                flags.append("map")
            if pointer:
                flags.append("ptr")
            if "omitempty" in opts:
                flags.append("omitempty")
            if "inline" in opts:
                flags.append("inline")
            out[key][number] = [json_name, kind, *flags]

    for message in sorted(set(ROOTS.values())):
        visit(*message.split("."))
    json.dump({"roots": ROOTS, "messages": dict(sorted(out.items()))}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
