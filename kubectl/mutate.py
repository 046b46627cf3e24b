"""Shared runner for commands that change existing objects in place: label, annotate, patch, set.

Why one runner: each of them picks objects the same way (`KIND NAME...`, `KIND/NAME`, `-l`,
`--all`), applies a pure change through `Session.patch` (read, change, update with the read's
resourceVersion, retry on Conflict), honours `--dry-run` and `-o`, and reports per object
`<kind>/<name> <verb>` or a server error while carrying on with the others.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from dataclasses import dataclass

from kubectl.errors import CliError, ReportedFailure, report
from kubectl.output import check_format, is_structured, print_objects, write
from kubectl.resources import display_name, parse_targets
from kubectl.session import Obj, Session
from kubelite.api.errors import ApiError
from kubelite.api.registry import KindInfo

DRY_RUN_SUFFIX = {"client": " (dry run)", "server": " (server dry run)"}


def add_selection_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("-l", "--selector", default="", help=f"{what} the objects matching this label selector")
    p.add_argument("--all", action="store_true", help=f"{what} every object of the kind in the namespace")


def add_write_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="", help="print the changed objects as json|yaml|name|jsonpath=...")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none",
                   help="client: print without sending; server: the apiserver validates but saves nothing")


@dataclass
class Selected:
    info: KindInfo
    name: str


async def select(session: Session, words: list[str], selector: str = "", everything: bool = False) -> list[Selected]:
    """The objects named by `KIND NAME...`/`KIND/NAME...`, or by `KIND -l SEL` / `KIND --all`."""
    targets = parse_targets(words)
    named = any(t.names for t in targets)
    if named and (selector or everything):
        raise CliError("cannot set --all or --selector and name objects at the same time")
    if not named and not (selector or everything):
        raise CliError("resource(s) were provided, but no name, label selector, or --all flag specified")
    chosen: list[Selected] = []
    for target in targets:
        if target.names:
            chosen.extend(Selected(target.info, n) for n in target.names)
            continue
        objs, _ = await session.list(target.info, session.scope(target.info, False), selector)
        chosen.extend(Selected(target.info, str((o.get("metadata") or {}).get("name"))) for o in objs)
    return chosen


Change = Callable[[Obj], Obj]
Verb = Callable[[Obj, Obj], str]


async def change_each(session: Session, chosen: list[Selected], change: Change, verb: Verb | str,
                      args: argparse.Namespace) -> int:
    """Apply `change` to every chosen object; `verb(before, after)` says what happened."""
    check_format(args.output)
    dry_run = getattr(args, "dry_run", "none")
    failed = False
    shown: list[Obj] = []
    for item in chosen:
        try:
            before, after = await _change_one(session, item, change, dry_run)
        except ApiError as err:
            report(err, session.server)
            failed = True
            continue
        if is_structured(args.output):
            shown.append(after)
            continue
        said = verb(before, after) if callable(verb) else verb
        write(f"{display_name(item.info, item.name)} {said}{DRY_RUN_SUFFIX.get(dry_run, '')}\n")
    if shown:
        print_objects(shown, args.output, single=len(shown) == 1)
    if failed:
        raise ReportedFailure()
    return 0


async def _change_one(session: Session, item: Selected, change: Change, dry_run: str) -> tuple[Obj, Obj]:
    """(object before, object after) the change; a client dry run only reads."""
    if dry_run == "client":
        before = await session.get(item.info, item.name)
        return before, change(copy.deepcopy(before))
    seen: list[Obj] = []

    def recorded(obj: Obj) -> Obj:
        seen[:] = [copy.deepcopy(obj)]
        return change(obj)

    after, _ = await session.patch(item.info, item.name, recorded, dry_run=dry_run == "server")
    return (seen[0] if seen else after), after
