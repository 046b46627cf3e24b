"""Machine-readable output (`-o json|yaml|name`) and the tiny helpers commands share for writing.

Why separate from the tables: the structured formats must be byte-for-byte
what scripts expect (`{"kind": "List", "items": [...]}` for lists, the object
itself for one named object), independent of how humans see tables.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from kubectl import customcols, jsonpath
from kubectl.errors import CliError
from kubectl.resources import display_name, resolve_kind

Obj = dict[str, Any]
FORMATS = ("json", "yaml", "wide", "name", "jsonpath=...", "custom-columns=...")
TEMPLATE_PREFIXES = ("jsonpath=", "jsonpath-as-json=", "custom-columns=")


def as_list_object(items: Sequence[Obj]) -> Obj:
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {"resourceVersion": ""}}


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4, ensure_ascii=False)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings as `|` blocks (readable annotations/scripts).

    Never anchors/aliases: an object that shares a sub-dict (e.g. the same labels in
    metadata and selector) must print it twice, as kubectl does, not as `&id001`/`*id001`.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def name_of(obj: Obj) -> str:
    """`deployment.apps/web` for an object as the server returned it."""
    info = resolve_kind(str(obj.get("kind", "")))
    return display_name(info, str((obj.get("metadata") or {}).get("name", "")))


def without_managed_fields(obj: Obj) -> Obj:
    """`obj` without `metadata.managedFields`: long, and hidden by default like kubectl does."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def is_structured(fmt: str) -> bool:
    """Formats printed by `print_objects` (not a human table)."""
    return fmt in ("json", "yaml", "name") or fmt.startswith(TEMPLATE_PREFIXES)


def check_format(fmt: str) -> None:
    """Reject unknown `-o` values up front, with kubectl's message; parse templates early."""
    if fmt.startswith("custom-columns="):
        customcols.parse_spec(fmt.partition("=")[2])
    elif fmt.startswith(("jsonpath=", "jsonpath-as-json=")):
        try:
            jsonpath.parse(fmt.partition("=")[2])
        except jsonpath.JSONPathError as exc:
            raise CliError(f"error parsing jsonpath {fmt.partition('=')[2]}, {exc}") from None
    elif fmt and fmt not in ("json", "yaml", "wide", "name"):
        raise CliError(f'unable to match a printer suitable for the output format "{fmt}", '
                       f"allowed formats are: {','.join(FORMATS)}")


def print_objects(objs: Sequence[Obj], fmt: str, single: bool, headers: bool = True,
                  show_managed_fields: bool = False) -> None:
    """Write objects as json/yaml/name/jsonpath/custom-columns; `single` prints one object as itself."""
    if not show_managed_fields:
        objs = [without_managed_fields(o) for o in objs]
    if fmt.startswith("custom-columns="):
        write(customcols.render(fmt.partition("=")[2], objs, headers))
        return
    if fmt.startswith(("jsonpath=", "jsonpath-as-json=")):
        data: Any = objs[0] if single and len(objs) == 1 else as_list_object(objs)
        template = fmt.partition("=")[2]
        if fmt.startswith("jsonpath-as-json="):
            values = jsonpath.values_at(template, data)
            write(to_json(values) + "\n")
        else:
            write(jsonpath.execute(template, data))
        return
    if fmt == "name":
        for obj in objs:
            write(name_of(obj) + "\n")
        return
    data = objs[0] if single and len(objs) == 1 else as_list_object(objs)
    write(to_json(data) + "\n" if fmt == "json" else to_yaml(data))


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def warn(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()
