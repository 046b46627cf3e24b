"""`kctl apply -k DIR`: build a kustomization into plain objects (pure, reads only local files).

Why our own small builder: no maintained Python kustomize exists, and the subset users reach
for first is small and well specified by kustomize's documentation. Supported fields:
`resources` (files and nested kustomization directories), `namespace`, `namePrefix`,
`nameSuffix`, `commonLabels` (also selectors and pod templates), `commonAnnotations`,
`images`, `configMapGenerator`/`secretGenerator` (with kustomize's content-hash name suffix
and `generatorOptions`), `patches` (strategic merge or JSON 6902 with `target`) and
`patchesStrategicMerge`. References to generated or renamed ConfigMaps, Secrets and
ServiceAccounts inside pod specs follow the new names. Any other field is rejected by name
rather than silently ignored.

Order, as kustomize: resources and generators, then patches, then namespace/prefix/suffix/
labels/annotations/images, then name references.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubectl import generators, strictyaml
from kubectl.errors import CliError
from kubelite.api import registry
from kubelite.api.errors import ApiError
from kubelite.api.patch import json_patch, strategic_merge

Obj = dict[str, Any]
FILENAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "namePrefix", "nameSuffix", "commonLabels",
             "commonAnnotations", "images", "configMapGenerator", "secretGenerator", "generatorOptions",
             "patches", "patchesStrategicMerge", "labels"}
# Kinds whose pod template / selector commonLabels reach (kustomize's field specs).
SELECTOR_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
TEMPLATE_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")


@dataclass
class Built:
    """Objects plus the renames (kind, old name) -> new name that references must follow."""

    objects: list[Obj] = field(default_factory=list)
    renames: dict[tuple[str, str], str] = field(default_factory=dict)


def hash_suffix(obj: Obj) -> str:
    """kustomize's name hash: sha256 of the compact, key-sorted JSON of kind/name/data (and type
    for Secrets, binaryData when present), first 10 hex digits with 0,1,3,a,e swapped for g,h,k,m,t."""
    encoded: Obj = {"kind": obj["kind"], "name": obj["metadata"]["name"], "data": obj.get("data") or {}}
    if obj["kind"] == "Secret":
        encoded["type"] = obj.get("type", "Opaque")
    if obj.get("binaryData"):
        encoded["binaryData"] = obj["binaryData"]
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # as Go's json does
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _load_yaml_docs(path: Path) -> list[Obj]:
    try:
        docs = list(strictyaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"{path}: {exc}") from None
    out: list[Obj] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise CliError(f"{path}: every document must be an object")
        if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


def _kustomization(directory: Path) -> tuple[Path, Obj]:
    for name in FILENAMES:
        path = directory / name
        if path.is_file():
            docs = _load_yaml_docs(path)
            spec = docs[0] if docs else {}
            unknown = sorted(set(spec) - SUPPORTED)
            if unknown:
                raise CliError(f"{path}: kctl's kustomize does not support {', '.join(unknown)}")
            return path, spec
    raise CliError(f"unable to find one of {', '.join(repr(n) for n in FILENAMES)} in directory '{directory}'")


def _list(spec: Obj, key: str, path: Path) -> list[Any]:
    value = spec.get(key) or []
    if not isinstance(value, list):
        raise CliError(f"{path}: {key} must be a list")
    return value


def build(directory: str | Path) -> list[Obj]:
    """The objects the kustomization in `directory` describes, ready to apply."""
    return _build(Path(directory), depth=0).objects


def _build(directory: Path, depth: int) -> Built:
    if depth > 20:
        raise CliError(f"{directory}: kustomizations nest too deeply (a cycle?)")
    path, spec = _kustomization(directory)
    built = Built()
    for entry in _list(spec, "resources", path):
        target = directory / str(entry)
        if target.is_dir():
            inner = _build(target, depth + 1)
            built.objects.extend(inner.objects)
            built.renames.update(inner.renames)
        elif target.is_file():
            built.objects.extend(_load_yaml_docs(target))
        else:
            raise CliError(f"{path}: resource {entry!r} is neither a file nor a directory (remote bases are "
                           "not supported)")
    options = spec.get("generatorOptions") or {}
    hashed: list[tuple[Obj, str]] = []
    for kind in ("configMapGenerator", "secretGenerator"):
        for gen in _list(spec, kind, path):
            obj = _generate(kind, gen, directory, options, path)
            if not options.get("disableNameSuffixHash") and not (gen.get("options") or {}).get("disableNameSuffixHash"):
                hashed.append((obj, obj["metadata"]["name"]))
            built.objects.append(obj)
    _patch(built.objects, spec, directory, path)
    _transform(built, spec)
    for obj, original in hashed:  # the hash covers the final (prefixed) name and data, and comes last
        obj["metadata"]["name"] = f"{obj['metadata']['name']}-{hash_suffix(obj)}"
        built.renames[(obj["kind"], original)] = obj["metadata"]["name"]
    for obj in built.objects:
        for pod_spec in _pod_specs(obj):
            _set_images(pod_spec, spec.get("images") or [])
            _rename_refs(pod_spec, built.renames)
    return built


def _generate(kind: str, gen: Any, directory: Path, options: Obj, path: Path) -> Obj:
    if not isinstance(gen, dict) or not gen.get("name"):
        raise CliError(f"{path}: every {kind} entry needs a name")
    files = [f"{f.partition('=')[0]}={directory / f.partition('=')[2]}" if "=" in f else str(directory / f)
             for f in gen.get("files") or []]
    envs = [str(directory / e) for e in gen.get("envs") or ([gen["env"]] if gen.get("env") else [])]
    sources = generators.key_sources(list(gen.get("literals") or []), files, envs)
    name = str(gen["name"])
    if kind == "configMapGenerator":
        obj = generators.configmap(name, "", sources)
    else:
        obj = generators.secret(name, "", sources, str(gen.get("type") or "Opaque"))
    del obj["metadata"]["namespace"]
    if gen.get("namespace"):
        obj["metadata"]["namespace"] = gen["namespace"]
    for key in ("labels", "annotations"):
        merged = {**(options.get(key) or {}), **((gen.get("options") or {}).get(key) or {})}
        if merged:
            obj["metadata"][key] = merged
    return obj


def _matches(obj: Obj, target: Obj) -> bool:
    meta = obj.get("metadata") or {}
    for key, actual in (("kind", obj.get("kind")), ("name", meta.get("name")), ("namespace", meta.get("namespace"))):
        if target.get(key) and target[key] != actual:
            return False
    if target.get("labelSelector"):
        labels = meta.get("labels") or {}
        for term in str(target["labelSelector"]).split(","):
            k, _, v = term.partition("=")
            if labels.get(k.strip()) != v.strip():
                return False
    return True


def _patch(objects: list[Obj], spec: Obj, directory: Path, path: Path) -> None:
    entries: list[Obj] = [{"path": p} for p in _list(spec, "patchesStrategicMerge", path)]
    entries += _list(spec, "patches", path)
    for entry in entries:
        if not isinstance(entry, dict):
            raise CliError(f"{path}: every patch must be an object with path or patch")
        if entry.get("path"):
            text = (directory / str(entry["path"])).read_text()
        elif entry.get("patch"):
            text = str(entry["patch"])
        else:
            raise CliError(f"{path}: a patch needs `path` or `patch`")
        try:
            bodies = list(strictyaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise CliError(f"{path}: patch: {exc}") from None
        target = entry.get("target")
        for body in bodies:
            if body is None:
                continue
            try:
                _apply_patch(objects, body, target, path)
            except ApiError as exc:
                raise CliError(f"{path}: patch failed: {exc.message}") from None


def _apply_patch(objects: list[Obj], body: Any, target: Any, path: Path) -> None:
    if isinstance(body, list):  # JSON 6902 operations: a target is required
        if not isinstance(target, dict):
            raise CliError(f"{path}: a JSON 6902 patch needs a target")
        hits = [i for i, o in enumerate(objects) if _matches(o, target)]
        for i in hits:
            objects[i] = json_patch(objects[i], body)
    elif isinstance(body, dict):
        selector = target if isinstance(target, dict) else {
            "kind": body.get("kind"), "name": (body.get("metadata") or {}).get("name")}
        hits = [i for i, o in enumerate(objects) if _matches(o, selector)]
        if not hits:
            raise CliError(f"{path}: no resource matches the patch for {selector.get('kind')} {selector.get('name')}")
        for i in hits:
            patch = copy.deepcopy(body)
            if isinstance(target, dict):
                patch.setdefault("metadata", {})["name"] = objects[i]["metadata"]["name"]
            objects[i] = strategic_merge(objects[i], patch)
    else:
        raise CliError(f"{path}: a patch must be a map (strategic merge) or a list (JSON 6902)")


def _namespaced(obj: Obj) -> bool:
    info = registry.find(str(obj.get("kind", "")))
    return info.namespaced if info is not None else True


def _transform(built: Built, spec: Obj) -> None:
    prefix, suffix = str(spec.get("namePrefix") or ""), str(spec.get("nameSuffix") or "")
    labels = dict(spec.get("commonLabels") or {})
    for entry in spec.get("labels") or []:
        if isinstance(entry, dict):
            labels.update(entry.get("pairs") or {})
    annotations = dict(spec.get("commonAnnotations") or {})
    for obj in built.objects:
        meta = obj.setdefault("metadata", {})
        kind = str(obj.get("kind", ""))
        if spec.get("namespace") and _namespaced(obj):
            meta["namespace"] = spec["namespace"]
        if (prefix or suffix) and kind != "Namespace":
            old = meta.get("name", "")
            for key, value in list(built.renames.items()):  # names a nested kustomization already changed
                if key[0] == kind and value == old:
                    built.renames[key] = f"{prefix}{value}{suffix}"
            built.renames.setdefault((kind, old), f"{prefix}{old}{suffix}")
            meta["name"] = f"{prefix}{old}{suffix}"
        _add(meta, "labels", labels)
        _add(meta, "annotations", annotations)
        body = obj.get("spec") or {}
        if labels and kind in SELECTOR_KINDS:
            _add(body.setdefault("selector", {}), "matchLabels", labels)
        if labels and kind == "Service":
            _add(body, "selector", labels)
        template = body.get("template") if kind in TEMPLATE_KINDS else None
        if isinstance(template, dict):
            _add(template.setdefault("metadata", {}), "labels", labels)
            _add(template.setdefault("metadata", {}), "annotations", annotations)


def _add(holder: Obj, key: str, values: dict[str, Any]) -> None:
    if values:
        holder[key] = {**(holder.get(key) or {}), **{k: str(v) for k, v in values.items()}}


def _pod_specs(obj: Obj) -> list[Obj]:
    body = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return [body]
    if obj.get("kind") == "CronJob":
        body = ((body.get("jobTemplate") or {}).get("spec")) or {}
    template = body.get("template")
    return [template["spec"]] if isinstance(template, dict) and isinstance(template.get("spec"), dict) else []


def _image_name(image: str) -> str:
    name = image.split("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _set_images(pod_spec: Obj, images: list[Any]) -> None:
    for field_name in ("initContainers", "containers"):
        for container in pod_spec.get(field_name) or []:
            image = str(container.get("image", ""))
            for rule in images:
                if not isinstance(rule, dict) or _image_name(image) != rule.get("name"):
                    continue
                name = str(rule.get("newName") or rule["name"])
                if rule.get("digest"):
                    container["image"] = f"{name}@{rule['digest']}"
                elif rule.get("newTag"):
                    container["image"] = f"{name}:{rule['newTag']}"
                else:
                    rest = image[len(_image_name(image)):]
                    container["image"] = name + rest


def _rename_refs(pod_spec: Obj, renames: dict[tuple[str, str], str]) -> None:
    def fix(holder: Any, key: str, kind: str) -> None:
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = renames.get((kind, holder[key]), holder[key])

    fix(pod_spec, "serviceAccountName", "ServiceAccount")
    for secret in pod_spec.get("imagePullSecrets") or []:
        fix(secret, "name", "Secret")
    for volume in pod_spec.get("volumes") or []:
        fix(volume.get("configMap"), "name", "ConfigMap")
        fix(volume.get("secret"), "secretName", "Secret")
        for source in (volume.get("projected") or {}).get("sources") or []:
            fix(source.get("configMap"), "name", "ConfigMap")
            fix(source.get("secret"), "name", "Secret")
    for field_name in ("initContainers", "containers"):
        for container in pod_spec.get(field_name) or []:
            for source in container.get("envFrom") or []:
                fix(source.get("configMapRef"), "name", "ConfigMap")
                fix(source.get("secretRef"), "name", "Secret")
            for env in container.get("env") or []:
                ref = env.get("valueFrom") or {}
                fix(ref.get("configMapKeyRef"), "name", "ConfigMap")
                fix(ref.get("secretKeyRef"), "name", "Secret")
