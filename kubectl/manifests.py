"""Reading manifests: files, directories and stdin; every document checked before any write.

Why validate everything first: `kctl apply -f` of a multi-document file that
fails half-way would leave the cluster half-changed. Parsing and validating all
documents locally with the same `api/` models the apiserver uses means a typo,
a negative replica count or broken YAML is reported with its file, document
number and field path, and nothing is written.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

import kubelite.api.defaults
import kubelite.api.registry
import kubelite.api.validation
from kubectl import strictyaml
from kubectl.errors import CliError
from kubelite.api.errors import ApiError, StatusCause
from kubelite.api.limits import TOO_DEEP, shape_error, yaml_too_deep_at
from kubelite.api.registry import KindInfo

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Fields the server owns: a manifest saved with `kctl get -o yaml` must apply cleanly.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")


@dataclass
class Manifest:
    """One object read from a manifest, with where it came from (for messages)."""

    source: str
    index: int  # 1-based document number within the source
    info: KindInfo
    body: dict[str, Any]  # the user's object, namespace filled in for namespaced kinds

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.body.get("metadata", {}).get("namespace") or "")


@dataclass
class RawDocument:
    source: str
    index: int
    data: Any


class ManifestError(CliError):
    """One or more problems in the manifests; every problem is one `error: ...` line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "invalid manifests",
                         [f"error: {p}" for p in problems])
        self.problems = problems


# ---- finding files ---------------------------------------------------------------------------------

def expand_paths(paths: Iterable[str], recursive: bool) -> list[str]:
    """Files named on the command line plus manifest files inside named directories (sorted)."""
    files: list[str] = []
    for raw in paths:
        if raw == "-":
            files.append("-")
            continue
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
            if not found:
                raise CliError(f"error reading [{raw}]: recognized file extensions are {list(MANIFEST_SUFFIXES)}")
            files.extend(str(p) for p in found)
        elif path.exists():
            files.append(raw)
        else:
            raise CliError(f'the path "{raw}" does not exist')
    return files


def _read(source: str, stdin: TextIO | None) -> str:
    if source == "-":
        return (stdin or sys.stdin).read()
    try:
        return Path(source).read_text()
    except UnicodeDecodeError as exc:
        raise ManifestError([f"{source}: not a text file: {exc.reason}"]) from exc
    except OSError as exc:
        raise ManifestError([f"{source}: cannot read: {exc.strerror or exc}"]) from exc


def display_source(source: str) -> str:
    return "<stdin>" if source == "-" else source


# ---- parsing ---------------------------------------------------------------------------------------

def parse_documents(source: str, text: str) -> tuple[list[RawDocument], list[str]]:
    """All documents of one file; a syntax error reports file, document and line/column."""
    shown = display_source(source)
    docs: list[RawDocument] = []
    if source.endswith(".json"):
        try:
            data = strictyaml.json_loads(text)
        except json.JSONDecodeError as exc:
            return [], [f"{shown}: document 1: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        except strictyaml.DuplicateKeyError as exc:
            return [], [f"{shown}: document 1: invalid JSON: {exc}"]
        except RecursionError:
            return [], [f"{shown}: document 1: invalid JSON: {TOO_DEEP}"]
        too_deep = shape_error(data)
        return ([], [f"{shown}: document 1: {too_deep}"]) if too_deep else ([RawDocument(source, 1, data)], [])
    index = 0
    too_deep_at = yaml_too_deep_at(text)  # before PyYAML, which is slow and recursive on deep flow nesting
    if too_deep_at is not None:
        head = text[:too_deep_at]
        document = len(re.findall(r"^---", head, re.MULTILINE)) + (0 if head.startswith("---") else 1)
        return [], [f"{shown}: document {document}: invalid YAML: {TOO_DEEP}"]
    try:
        for data in strictyaml.safe_load_all(text):
            index += 1
            too_deep = shape_error(data)
            if too_deep:
                return docs, [f"{shown}: document {index}: {too_deep}"]
            docs.append(RawDocument(source, index, data))
    except RecursionError:
        return docs, [f"{shown}: document {index + 1}: invalid YAML: {TOO_DEEP}"]
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}: {problem}" if context else str(problem)
        return docs, [f"{shown}: document {index + 1}: invalid YAML{where}: {detail}"]
    return docs, []


def _flatten(doc: RawDocument) -> Iterator[tuple[RawDocument, str]]:
    """Kubernetes `List` documents expand into their items (kubectl does the same)."""
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith("List") \
            and isinstance(data.get("items"), list) and "spec" not in data:
        for i, item in enumerate(data["items"]):
            yield RawDocument(doc.source, doc.index, item), f" item {i + 1}"
    else:
        yield doc, ""


# ---- validation ------------------------------------------------------------------------------------

def _label(data: dict[str, Any]) -> str:
    kind = data.get("kind") if isinstance(data.get("kind"), str) and data.get("kind") else "<no kind>"
    raw_meta = data.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<no name>")
    return f"{kind}/{name}"


def _causes_of(err: ApiError) -> list[StatusCause]:
    return list(err.causes) or [StatusCause("", err.message)]


def check_document(data: dict[str, Any], *, require_name: bool = True) -> tuple[KindInfo | None, list[StatusCause]]:
    """Decode, default and validate one object with the api models; the problems found."""
    causes: list[StatusCause] = []
    for key in ("apiVersion", "kind"):
        if not isinstance(data.get(key), str) or not data.get(key):
            causes.append(StatusCause.required(key))
    if causes:
        return None, causes
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return None, [StatusCause("metadata", "Invalid value: must be a map")]
    if require_name and not (meta or {}).get("name"):
        causes.append(StatusCause.required("metadata.name", "name is required"))
    try:
        obj = kubelite.api.registry.decode(copy.deepcopy(data))
    except ApiError as err:
        return None, causes + _causes_of(err)
    info = kubelite.api.registry.for_model(type(obj))
    kubelite.api.defaults.apply_defaults(obj)
    causes.extend(c for c in kubelite.api.validation.validate(obj)
                  if not (c.field == "metadata.name" and any(x.field == "metadata.name" for x in causes)))
    return info, causes


def _strip_server_fields(data: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(data)
    body.pop("status", None)
    meta = body.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
    return body


def load_manifests(paths: Iterable[str], *, recursive: bool = False, namespace: str = "default",
                   explicit_namespace: bool = False, require_name: bool = True,
                   stdin: TextIO | None = None, verb: str = "") -> list[Manifest]:
    """Every object of every file, validated; ManifestError listing all problems if any.

    With `verb` ("apply", "create"), finding no object at all (empty files, only `null`
    documents) is an error, as in kubectl: the user surely meant to send something."""
    sources = expand_paths(paths, recursive)
    if not sources:
        raise CliError("must specify one of -f and -k")
    problems: list[str] = []
    manifests: list[Manifest] = []
    nothing: list[str] = []  # why each source gave no object (for the "no objects" error)
    for source in sources:
        docs, parse_errors = parse_documents(source, _read(source, stdin))
        if not docs and not parse_errors:
            nothing.append(f"{display_source(source)}: no documents")
        for doc in docs:
            for item, suffix in _flatten(doc):
                where = f"{display_source(item.source)}: document {item.index}{suffix}"
                if item.data is None:
                    nothing.append(f"{where} is null")
                    continue
                if not isinstance(item.data, dict):
                    problems.append(f"{where}: expected an object with apiVersion, kind and metadata, "
                                    f"got {type(item.data).__name__}")
                    continue
                data = _strip_server_fields(item.data)
                info, causes = check_document(data, require_name=require_name)
                label = _label(data)
                problems.extend(f"{where} ({label}): {c}" for c in causes)
                if info is None or causes:
                    continue
                meta = data.setdefault("metadata", {})
                if info.namespaced:
                    given = meta.get("namespace")
                    if given and explicit_namespace and given != namespace:
                        problems.append(
                            f"{where} ({label}): the namespace from the provided object \"{given}\" does not "
                            f"match the namespace \"{namespace}\". You must pass '--namespace={given}' to "
                            "perform this operation.")
                        continue
                    meta["namespace"] = given or namespace
                else:
                    meta.pop("namespace", None)
                manifests.append(Manifest(item.source, item.index, info, data))
        problems.extend(parse_errors)
    if problems:
        raise ManifestError(problems)
    if verb and not manifests:
        detail = f" ({'; '.join(nothing)})" if nothing else ""
        raise CliError(f"no objects passed to {verb}{detail}")
    return manifests


def namespaces_first(manifests: list[Manifest]) -> list[Manifest]:
    """Namespaces before the objects that live in them (stable otherwise)."""
    return sorted(manifests, key=lambda m: 0 if m.info.kind == "Namespace" else 1)
