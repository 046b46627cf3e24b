"""`kctl explain KIND[.field.path]`: the fields of a kind, read from kubelite's own pydantic models.

Why from the models: they are what the apiserver validates against, so the listed fields
and types are exactly what a manifest may contain (unknown fields are rejected).
"""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from typing import Any

from pydantic import BaseModel

from kubectl.errors import CliError
from kubectl.output import write
from kubectl.resources import resolve_kind

EXAMPLES = """\
Examples:
  # The fields of a pod
  kctl explain pods

  # One field, and the fields inside it
  kctl explain deployment.spec.template.spec.containers

  # The API versions of every kind
  kctl api-versions
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("explain", parents=parents, help="describe the fields of a resource kind",
                       description="kctl explain KIND[.FIELD.PATH]", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="KIND[.FIELD...]")
    p.set_defaults(func=None, local_func=run)


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def type_name(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return "[]" + (type_name(args[0]) if args else "Object")
    if origin is dict:
        args = typing.get_args(annotation)
        return "map[string]" + (type_name(args[1]) if len(args) == 2 else "Object")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in names:
        return names[annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return "string"
    return "Object" if annotation is Any else "string" if isinstance(annotation, type) else "Object"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    while typing.get_origin(annotation) in (list, tuple, dict):
        args = typing.get_args(annotation)
        annotation = _unwrap(args[-1]) if args else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or n): f for n, f in model.model_fields.items()}


def explain(path: str) -> str:
    kind_text, *steps = path.split(".")
    info = resolve_kind(kind_text)
    model: type[BaseModel] = info.model
    field_line = ""
    annotation: Any = model
    walked: list[str] = []
    for step in steps:
        fields = _fields(model)
        if step not in fields:
            where = ".".join([info.kind.lower(), *walked])
            raise CliError(f'field "{step}" does not exist in {where} (fields: {", ".join(fields)})')
        annotation = fields[step].annotation
        walked.append(step)
        field_line = f"FIELD: {step} <{type_name(annotation)}>\n\n"
        inner = _model_of(annotation)
        if inner is None:
            if step != steps[-1]:
                raise CliError(f'field "{steps[len(walked)]}" does not exist: {".".join(walked)} is a '
                               f"{type_name(annotation)}")
            break
        model = inner
    out = [f"KIND:       {info.kind}\nVERSION:    {info.api_version}\n\n", field_line]
    target = _model_of(annotation) if steps else model
    own = target.__dict__.get("__doc__") if target is not None else None  # not a base class's docstring
    doc = inspect.cleandoc(own) if isinstance(own, str) else ""
    if doc:
        body = "\n".join("    " + line if line else "" for line in doc.split("\n\n")[0].splitlines())
        out.append(f"DESCRIPTION:\n{body}\n\n")
    if target is not None:
        rows = [(name, type_name(f.annotation), " -required-" if f.is_required() else "")
                for name, f in _fields(target).items()]
        out.append("FIELDS:\n" + "".join(f"  {n}\t<{t}>{r}\n" for n, t, r in rows))
    return "".join(out)


def run(args: argparse.Namespace) -> int:
    write(explain(args.path))
    return 0
