"""`kctl wait --for=condition=X|delete|jsonpath=... KIND NAME [--timeout 30s]`: block until it holds.

Each object is read, then watched (by name) until the condition holds; on timeout kctl says
so like kubectl and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from kubectl.errors import CliError, ReportedFailure
from kubectl.mutate import Selected, add_selection_flags, select
from kubectl.output import warn, write
from kubectl.resources import display_name
from kubectl.session import Obj, Session
from kubectl.waitfor import Wanted, parse_for
from kubelite.api.durations import duration
from kubelite.api.errors import Expired, NotFound

EXAMPLES = """\
Examples:
  # Wait for the pod "busybox1" to contain the status condition of type "Ready"
  kctl wait --for=condition=Ready pod/busybox1

  # The condition's status may be given (default True, compared case-insensitively)
  kctl wait --for=condition=Ready=false pod/busybox1

  # Wait for a field to have a value
  kctl wait --for=jsonpath='{.status.phase}'=Running pod/busybox1

  # Wait for every pod of an app to be deleted, for at most a minute
  kctl delete pod -l app=web --wait=false && kctl wait --for=delete pod -l app=web --timeout=60s
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("wait", parents=parents, help="wait for a condition on one or many resources",
                       description="kctl wait --for=condition=NAME[=VALUE]|delete|jsonpath='{.path}'=VALUE "
                                   "KIND NAME|KIND/NAME|KIND -l SELECTOR [--timeout 30s]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resources", nargs="+", metavar="KIND NAME")
    p.add_argument("--for", dest="wait_for", required=True, help="the condition to wait for")
    p.add_argument("--timeout", type=duration, default=30.0,
                   help="how long to wait, e.g. 30s, 2m (default 30s; 0 = check once)")
    add_selection_flags(p, "wait for")
    p.set_defaults(func=run)


async def run(session: Session, args: argparse.Namespace) -> int:
    wanted = parse_for(args.wait_for)
    try:
        chosen = await select(session, args.resources, args.selector, args.all)
    except CliError:
        if wanted.kind == "delete" and (args.selector or args.all):
            return 0
        raise
    if not chosen:
        if wanted.kind == "delete":
            return 0
        raise CliError("no matching resources found")
    deadline = time.monotonic() + args.timeout
    failed = False
    for item in chosen:
        try:
            met = await _wait_one(session, item, wanted, deadline)
        except NotFound as err:
            warn(f"Error from server (NotFound): {err.message}")
            failed = True
            continue
        if not met:
            warn(f"error: timed out waiting for the condition on {item.info.resource}/{item.name}")
            failed = True
            continue
        said = "deleted" if wanted.kind == "delete" else "condition met"
        write(f"{display_name(item.info, item.name)} {said}\n")
    if failed:
        raise ReportedFailure()
    return 0


async def _wait_one(session: Session, item: Selected, wanted: Wanted, deadline: float) -> bool:
    """True once the condition holds; False at the deadline. NotFound (not for delete) propagates."""
    selector = f"metadata.name={item.name}"
    scope = session.scope(item.info, False)
    while True:
        objs, rv = await session.list(item.info, scope, field_selector=selector)
        current: Obj | None = objs[0] if objs else None
        if current is None and wanted.kind != "delete":
            raise NotFound(f'{item.info.resource} "{item.name}" not found')
        if wanted.met(current):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            async with asyncio.timeout(remaining):
                async for event, obj in session.watch(item.info, scope, rv, field_selector=selector):
                    if wanted.met(None if event == "DELETED" else obj):
                        return True
        except TimeoutError:
            return False
        except Expired:
            continue
