"""`kctl delete`: by manifest, name, selector or --all; waits until objects are gone like kubectl."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from kubectl.commands.apply import add_file_flags
from kubectl.errors import CliError, ReportedFailure, format_api_error, report
from kubectl.manifests import load_manifests
from kubectl.output import warn, write
from kubectl.printers import dig
from kubectl.resources import display_name, parse_targets, quoted_name
from kubectl.session import Obj, Session
from kubelite.api.durations import duration
from kubelite.api.errors import ApiError, NotFound
from kubelite.api.registry import KindInfo

CASCADE = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan",
           "true": "Background", "false": "Orphan"}
WAIT_MARGIN_SECONDS = 30.0
FORCE_WARNING = ("Warning: Immediate deletion does not wait for confirmation that the running resource has been "
                 "terminated. The resource may continue to run on the cluster indefinitely.")


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "t", "y"):
        return True
    if lowered in ("false", "0", "no", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("delete", parents=parents, help="delete resources by file, name or selector",
                       description="kctl delete -f FILE | KIND NAME... | KIND/NAME... | KIND -l SEL | KIND --all")
    p.add_argument("resources", nargs="*", metavar="KIND [NAME]")
    add_file_flags(p, "delete", required=False)
    p.add_argument("-l", "--selector", default="", help="delete objects matching this label selector")
    p.add_argument("--field-selector", default="", help="delete objects matching this field selector")
    p.add_argument("--all", action="store_true", help="delete every object of the kind in the namespace")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="with -l/--all: in every namespace")
    p.add_argument("--grace-period", type=int, default=-1,
                   help="seconds a pod gets to stop (-1: the pod's own terminationGracePeriodSeconds)")
    p.add_argument("--now", action="store_true", help="same as --grace-period=1")
    p.add_argument("--force", action="store_true", help="with --grace-period=0: remove at once")
    p.add_argument("--cascade", default="background",
                   help="background|foreground|orphan: what happens to dependents (default background)")
    p.add_argument("--wait", type=parse_bool, nargs="?", const=True, default=True,
                   help="wait until the objects are gone (default true)")
    p.add_argument("--timeout", type=duration, default=0.0,
                   help="seconds to wait for deletion (0: grace period + 30s)")
    p.add_argument("--ignore-not-found", action="store_true", help="no error for missing objects")
    p.add_argument("-o", "--output", default="", help="name: print only kind/name of deleted objects")
    p.set_defaults(func=run)


def _grace(args: argparse.Namespace) -> int | None:
    if args.now:
        if args.grace_period >= 0:
            raise CliError("--now and --grace-period cannot be specified together")
        return 1
    if args.grace_period >= 0:
        if args.grace_period == 0 and not args.force:
            return 1  # like kubectl: 0 without --force means "as fast as possible, but graceful"
        return int(args.grace_period)
    return 0 if args.force else None


async def _targets(session: Session, args: argparse.Namespace) -> list[tuple[KindInfo, str, str]]:
    """(kind, namespace, name) of every object to delete, in order."""
    if args.filename:
        if args.resources:
            raise CliError("when using -f, do not also name resources on the command line")
        manifests = load_manifests(args.filename, recursive=args.recursive, namespace=session.namespace,
                                   explicit_namespace=session.explicit_namespace)
        ordered = sorted(manifests, key=lambda m: 1 if m.info.kind == "Namespace" else 0)
        return [(m.info, m.namespace, m.name) for m in ordered]
    if not args.resources:
        raise CliError("you must provide one or more resources by argument or filename")
    targets = parse_targets(args.resources)
    found: list[tuple[KindInfo, str, str]] = []
    for target in targets:
        info = target.info
        if target.names:
            if args.selector or args.all:
                raise CliError("name cannot be provided when a selector or --all is specified")
            found.extend((info, session.ns(info), name) for name in target.names)
            continue
        if not (args.selector or args.field_selector or args.all):
            raise CliError("resource(s) were provided, but no name was specified")
        objs, _ = await session.list(info, session.scope(info, args.all_namespaces), args.selector,
                                     args.field_selector)
        found.extend((info, str(dig(o, "metadata", "namespace") or ""), str(dig(o, "metadata", "name")))
                     for o in objs)
    return found


async def run(session: Session, args: argparse.Namespace) -> int:
    policy = CASCADE.get(args.cascade.lower())
    if policy is None:
        raise CliError(f"invalid --cascade {args.cascade!r}: use background, foreground or orphan")
    grace = _grace(args)
    if grace == 0:
        warn(FORCE_WARNING)
    targets = await _targets(session, args)
    if not targets and not args.filename:
        warn("No resources found")
        return 0
    failed = False
    pending: list[tuple[KindInfo, str, str, str, float]] = []
    for info, namespace, name in targets:
        try:
            gone = await session.delete(info, name, namespace or None, grace_period_seconds=grace,
                                        propagation_policy=policy)
        except NotFound as err:
            if not args.ignore_not_found:
                warn(format_api_error(err))
                failed = True
            continue
        except ApiError as err:
            report(err, session.server)
            failed = True
            continue
        if args.output == "name":
            write(f"{display_name(info, name)}\n")
        else:
            write(f"{quoted_name(info, name)} deleted\n")
        uid = str(dig(gone, "metadata", "uid") or "") if gone else ""
        obj_grace = dig(gone, "metadata", "deletionGracePeriodSeconds") if gone else None
        wait_for = float(grace if grace is not None else obj_grace if isinstance(obj_grace, int) else 30)
        pending.append((info, namespace, name, uid, wait_for))
    if args.wait and pending:
        failed |= not await wait_deleted(session, pending, args.timeout)
    if failed:
        raise ReportedFailure()
    return 0


async def _still_there(session: Session, info: KindInfo, namespace: str, name: str, uid: str) -> bool:
    try:
        obj: Obj = await session.get(info, name, namespace or None)
    except NotFound:
        return False
    return not uid or str(dig(obj, "metadata", "uid") or "") == uid


async def wait_deleted(session: Session, pending: list[tuple[KindInfo, str, str, str, float]],
                       timeout: float) -> bool:
    """Poll until every object is gone (a re-created one with a new uid counts as gone)."""
    limit = timeout if timeout > 0 else max(p[4] for p in pending) + WAIT_MARGIN_SECONDS
    deadline = time.monotonic() + limit
    remaining = list(pending)
    delay = 0.1
    while remaining:
        remaining = [p for p in remaining if await _still_there(session, p[0], p[1], p[2], p[3])]
        if not remaining:
            return True
        if time.monotonic() >= deadline:
            for info, _, name, _, _ in remaining:
                warn(f"error: timed out waiting for the condition on {info.resource}/{name}")
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)
    return True
