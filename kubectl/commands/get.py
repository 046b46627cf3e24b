"""`kctl get`: tables like kubectl's, or json/yaml/name, optionally watching for changes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from kubectl import jsonpath, printers
from kubectl.errors import CliError, format_api_error
from kubectl.output import (
    check_format,
    is_structured,
    print_objects,
    to_json,
    to_yaml,
    warn,
    without_managed_fields,
    write,
)
from kubectl.resources import Target, kind_label, parse_targets
from kubectl.session import Obj, Session
from kubelite.api.columns import TableSpec
from kubelite.api.errors import ApiError, Expired, NotFound
from kubelite.api.registry import KindInfo


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("get", parents=parents, help="display one or many resources",
                       description="Display one or many resources: kctl get KIND[,KIND] [NAME...] | KIND/NAME...")
    p.add_argument("resources", nargs="*", metavar="KIND [NAME]")
    add_output_flags(p)
    p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    p.add_argument("-l", "--selector", default="", help="label selector, e.g. app=web,tier!=db")
    p.add_argument("--field-selector", default="", help="field selector, e.g. status.phase=Running")
    p.add_argument("--no-headers", action="store_true", help="omit table headers")
    p.add_argument("--show-labels", action="store_true", help="add a LABELS column")
    p.add_argument("--show-managed-fields", action="store_true",
                   help="keep metadata.managedFields in -o json|yaml output")
    p.add_argument("--sort-by", default="", help="sort by a field path, e.g. .metadata.creationTimestamp")
    p.add_argument("-L", "--label-columns", action="append", default=[], metavar="LABEL",
                   help="add a column with the value of this label (repeatable, or comma-separated)")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, watch for changes")
    p.add_argument("--watch-only", action="store_true", help="watch for changes without listing first")
    p.add_argument("--ignore-not-found", action="store_true", help="no error for missing named objects")
    p.set_defaults(func=run)


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="",
                   help="output format: json|yaml|wide|name|jsonpath=TEMPLATE|custom-columns=HEADER:.path,...")


def check_output(fmt: str) -> None:
    check_format(fmt)


def sort_key_for(path: str) -> Any:
    """A sort key function for `--sort-by` (a JSONPath like `.metadata.name` or `{.spec.replicas}`).

    Missing fields sort first; numbers sort numerically, everything else as text.
    """
    try:
        jsonpath.parse(jsonpath.relaxed(path))
    except jsonpath.JSONPathError as exc:
        raise CliError(f"invalid --sort-by {path!r}: {exc}") from None
    if not path.strip().strip("{}"):
        raise CliError(f"invalid --sort-by {path!r}: expected a field path like .metadata.name")

    def key(obj: Obj) -> tuple[int, Any]:
        values = jsonpath.values_at(path, obj)
        value = values[0] if values else None
        if value is None:
            return (0, "")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (1, value)
        return (2, jsonpath.format_value(value))
    return key


def _default_sort(info: KindInfo, objs: list[Obj]) -> list[Obj]:
    if info.kind == "Event":
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(objs, key=lambda e: printers.event_time(e) or epoch)
    return sorted(objs, key=lambda o: (str(printers.dig(o, "metadata", "namespace") or ""),
                                       str(printers.dig(o, "metadata", "name") or "")))


async def fetch(session: Session, target: Target, args: argparse.Namespace) -> tuple[list[Obj], bool]:
    """Objects of one target and whether an error was already printed."""
    info = target.info
    if not target.names:
        objs, _ = await session.list(info, session.scope(info, args.all_namespaces), args.selector,
                                     args.field_selector)
        return _default_sort(info, objs), False
    found: list[Obj] = []
    failed = False
    for name in target.names:
        try:
            found.append(await session.get(info, name))
        except NotFound as err:
            if not args.ignore_not_found:
                warn(format_api_error(err))
                failed = True
    return found, failed


def no_resources_message(session: Session, targets: list[Target], all_namespaces: bool) -> str:
    if all_namespaces or not any(t.info.namespaced for t in targets):
        return "No resources found"
    return f"No resources found in {session.namespace} namespace."


async def run(session: Session, args: argparse.Namespace) -> int:
    check_output(args.output)
    targets = parse_targets(args.resources)
    if any(t.names for t in targets) and args.selector:
        raise CliError("name cannot be provided when a selector is specified")
    if args.watch or args.watch_only:
        args.streaming = True
        return await watch(session, targets[0], args) if len(targets) == 1 else _multi_watch_error()
    results: list[tuple[KindInfo, list[Obj]]] = []
    failed = False
    for target in targets:
        objs, target_failed = await fetch(session, target, args)
        failed |= target_failed
        if args.sort_by:
            objs = sorted(objs, key=sort_key_for(args.sort_by))
        results.append((target.info, objs))
    everything = [o for _, objs in results for o in objs]
    if is_structured(args.output):
        single = len(targets) == 1 and len(targets[0].names) == 1
        if everything or not single:
            print_objects(everything, args.output, single, headers=not args.no_headers,
                          show_managed_fields=args.show_managed_fields)
    else:
        print_tables(results, args, multi_kind=len(targets) > 1)
        if not everything and not failed:
            warn(no_resources_message(session, targets, args.all_namespaces))
    return 1 if failed else 0


def custom_columns(info: KindInfo) -> TableSpec | None:
    """A custom kind's printer columns (its CRD's additionalPrinterColumns + AGE); None for built-in kinds."""
    if info.custom is None:
        return None
    from kubelite.api import printercolumns  # pydantic models: only for a custom kind's table

    return printercolumns.table_spec(info.custom)


def print_tables(results: list[tuple[KindInfo, list[Obj]]], args: argparse.Namespace, multi_kind: bool) -> None:
    blocks = []
    now = datetime.now(UTC)
    for info, objs in results:
        if not objs:
            continue
        header, rows = printers.table_for(
            info.kind, objs, wide=args.output == "wide", all_namespaces=args.all_namespaces,
            show_labels=args.show_labels, name_prefix=f"{kind_label(info)}/" if multi_kind else "", now=now,
            spec=custom_columns(info))
        header, rows = add_label_columns(header, rows, objs, args.label_columns)
        text, _ = printers.render(None if args.no_headers else header, rows)
        blocks.append(text)
    if blocks:
        write("\n\n".join(blocks) + "\n")


def label_keys(flags: list[str]) -> list[str]:
    return [k.strip() for flag in flags for k in flag.split(",") if k.strip()]


def add_label_columns(header: list[str], rows: list[list[str]], objs: list[Obj],
                      flags: list[str]) -> tuple[list[str], list[list[str]]]:
    """`-L app -L tier`: one column per label key, headed by its last path segment in capitals."""
    keys = label_keys(flags)
    if not keys:
        return header, rows
    header = header + [k.rpartition("/")[2].upper() for k in keys]
    rows = [row + [str((printers.dig(obj, "metadata", "labels") or {}).get(k, "")) for k in keys]
            for row, obj in zip(rows, objs, strict=True)]
    return header, rows


def _multi_watch_error() -> int:
    raise CliError("you may only specify a single resource type with --watch")


async def watch(session: Session, target: Target, args: argparse.Namespace) -> int:
    """Print the current objects, then one line (or document) per change until interrupted."""
    info = target.info
    if len(target.names) > 1:
        raise CliError("watch is only supported on individual resources and resource collections, "
                       "but a list of resources was given")
    field_selector = args.field_selector
    if target.names:
        name_selector = f"metadata.name={target.names[0]}"
        field_selector = f"{field_selector},{name_selector}" if field_selector else name_selector
    scope = session.scope(info, args.all_namespaces)
    objs, rv = await session.list(info, scope, args.selector, field_selector)
    objs = _default_sort(info, objs)
    wide = args.output == "wide"
    table_mode = not is_structured(args.output)

    def table(objs: list[Obj]) -> tuple[list[str], list[list[str]]]:
        header, rows = printers.table_for(info.kind, objs, wide=wide, all_namespaces=args.all_namespaces,
                                          show_labels=args.show_labels, spec=custom_columns(info))
        return add_label_columns(header, rows, objs, args.label_columns)

    widths: list[int] = []
    if table_mode:
        header, rows = table(objs)
        shown = rows if not args.watch_only else []
        text, widths = printers.render(None if args.no_headers else header, shown)
        if text:
            write(text + "\n")
    elif not args.watch_only:
        for obj in objs:
            _print_one(obj, args.output)
    while True:
        try:
            async for _, obj in session.watch(info, scope, rv, args.selector, field_selector):
                rv = str(printers.dig(obj, "metadata", "resourceVersion") or rv)
                if table_mode:
                    _, rows = table([obj])
                    widths = [max(w, len(c)) for w, c in zip(widths, rows[0], strict=False)] or \
                        printers.column_widths(rows)
                    write(printers.format_row(rows[0], widths) + "\n")
                else:
                    _print_one(obj, args.output)
            return 0
        except Expired:
            _, rv = await session.list(info, scope, args.selector, field_selector)
        except ApiError:
            raise


def _print_one(obj: Obj, fmt: str) -> None:
    obj = without_managed_fields(obj)
    if fmt == "json":
        write(to_json(obj) + "\n")
    elif fmt == "yaml":
        write("---\n" + to_yaml(obj))
    else:
        print_objects([obj], fmt, single=True)
