"""`kctl describe KIND [NAME...]`: describers per kind plus the object's Events."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.describe import Writer, describe_events, sort_events
from kubectl.describe_kinds import DESCRIBERS, describe_generic
from kubectl.errors import ReportedFailure, format_api_error
from kubectl.output import warn, write
from kubectl.printers import as_dict, dig
from kubectl.resources import parse_targets, resolve_kind
from kubectl.session import Obj, Session
from kubelite.api.errors import ApiError, NotFound
from kubelite.api.registry import KindInfo


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("describe", parents=parents, help="show details of objects and their events",
                       description="kctl describe KIND [NAME_PREFIX...] | KIND/NAME")
    p.add_argument("resources", nargs="+", metavar="KIND [NAME]")
    p.add_argument("-l", "--selector", default="", help="describe objects matching this label selector")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="describe across all namespaces")
    p.add_argument("--show-events", type=lambda s: s.lower() != "false", default=True,
                   help="include Events (default true)")
    p.set_defaults(func=run)


async def events_for(session: Session, obj: Obj) -> list[Obj]:
    """Events whose involvedObject is this object (by name and namespace, then kind/uid)."""
    meta = as_dict(obj.get("metadata"))
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "")
    selector = f"involvedObject.name={name}"
    if namespace:
        selector += f",involvedObject.namespace={namespace}"
    try:
        events, _ = await session.list(resolve_kind("events"), namespace or None, field_selector=selector)
    except ApiError:
        return []
    uid, kind = meta.get("uid"), obj.get("kind")

    def matches(ev: Obj) -> bool:
        involved = as_dict(ev.get("involvedObject"))
        if involved.get("name") != name or (involved.get("namespace") or "") != namespace:
            return False
        if kind and involved.get("kind") and involved.get("kind") != kind:
            return False
        return not (uid and involved.get("uid") and involved.get("uid") != uid)
    return sort_events([e for e in events if matches(e)])


async def describe_object(session: Session, obj: Obj, show_events: bool = True) -> str:
    w = Writer()
    describer = DESCRIBERS.get(str(obj.get("kind", "")), describe_generic)
    await describer(session, obj, w)
    if show_events and obj.get("kind") != "Event":
        describe_events(w, await events_for(session, obj))
    return w.render()


async def _find(session: Session, info: KindInfo, name: str) -> list[Obj]:
    """The object named `name`, or (like kubectl) every object whose name starts with it."""
    try:
        return [await session.get(info, name)]
    except NotFound:
        objs, _ = await session.list(info, session.scope(info, False))
        matches = [o for o in objs if str(dig(o, "metadata", "name") or "").startswith(name)]
        if not matches:
            raise
        return matches


async def run(session: Session, args: argparse.Namespace) -> int:
    failed = False
    found: list[Obj] = []
    for target in parse_targets(args.resources):
        info = target.info
        if not target.names:
            objs, _ = await session.list(info, session.scope(info, args.all_namespaces), args.selector)
            found.extend(sorted(objs, key=lambda o: (str(dig(o, "metadata", "namespace") or ""),
                                                     str(dig(o, "metadata", "name") or ""))))
            continue
        for name in target.names:
            try:
                found.extend(await _find(session, info, name))
            except NotFound as err:
                warn(format_api_error(err))
                failed = True
    if not found and not failed:
        warn(f"No resources found in {session.namespace} namespace.")
    texts = [await describe_object(session, obj, args.show_events) for obj in found]
    if texts:
        write("\n\n".join(t.rstrip("\n") for t in texts) + "\n")
    if failed:
        raise ReportedFailure()
    return 0
