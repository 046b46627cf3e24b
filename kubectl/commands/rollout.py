"""`kctl rollout status|history|undo|pause|resume|restart deploy/NAME`, like kubectl.

Why everything here is client-side edits of the Deployment: as in Kubernetes,
the Deployment controller is the only thing that rolls pods. `undo` copies an
older ReplicaSet's template back into the Deployment (the controller then sees
a template it already has an RS for and makes that RS the newest revision),
`restart` stamps a template annotation so the hash changes, and `pause` /
`resume` flip `spec.paused`. `status` only watches what the controller reports.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
from typing import Any

from kubectl.errors import CliError
from kubectl.output import to_yaml, write
from kubectl.resources import display_name, parse_single
from kubectl.session import Obj, Session
from kubelite.api import now
from kubelite.api.durations import duration
from kubelite.api.registry import KindInfo, lookup

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
TEMPLATE_HASH = "pod-template-hash"


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rollout", parents=parents, help="manage the rollout of a Deployment",
                       description="kctl rollout SUBCOMMAND deploy/NAME")
    verbs = p.add_subparsers(dest="verb", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    for verb, text in (("status", "watch the rollout until it completes"),
                       ("history", "list the revisions"),
                       ("undo", "roll back to the previous (or a given) revision"),
                       ("pause", "stop rolling out template changes"),
                       ("resume", "roll out template changes again"),
                       ("restart", "replace every pod with a fresh one")):
        v = verbs.add_parser(verb, parents=parents, help=text)
        v.add_argument("resources", nargs="+", metavar="KIND NAME | KIND/NAME")
        if verb == "status":
            v.add_argument("--timeout", type=duration, default=0.0, help="seconds to wait (0 = forever)")
            v.add_argument("-w", "--watch", default=True, action=argparse.BooleanOptionalAction,
                           help="keep watching until the rollout ends (default true)")
        if verb in ("history", "undo"):
            v.add_argument("--to-revision", type=int, default=0, help="the revision (0 = the previous one)")
        if verb == "history":
            v.add_argument("--revision", type=int, default=0, help="show this revision's pod template")
    p.set_defaults(func=run)


def _deployment(args: list[str]) -> tuple[KindInfo, str]:
    info, name = parse_single(args, "rollout")
    if info.kind != "Deployment":
        raise CliError(f"rollout is only supported for deployments, not {info.resource}")
    return info, name


async def _owned_replicasets(session: Session, deploy: Obj) -> list[Obj]:
    """The Deployment's ReplicaSets (controller ownerReference by uid), oldest revision first."""
    uid = deploy["metadata"].get("uid")
    items, _ = await session.list(lookup("ReplicaSet"), deploy["metadata"].get("namespace") or session.namespace)
    owned = [rs for rs in items
             if any(ref.get("controller") and ref.get("uid") == uid
                    for ref in rs["metadata"].get("ownerReferences") or [])]
    return sorted(owned, key=revision_of)


def revision_of(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def status_message(d: Obj) -> tuple[bool, str]:
    """(done, message) for one observation of the Deployment, with kubectl's wording."""
    meta, spec, st = d["metadata"], d.get("spec") or {}, d.get("status") or {}
    name = meta["name"]
    if (st.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, "Waiting for deployment spec update to be observed...\n"
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            raise CliError(f'deployment "{name}" exceeded its progress deadline')
    want = spec.get("replicas", 1)
    updated = st.get("updatedReplicas") or 0
    total = st.get("replicas") or 0
    available = st.get("availableReplicas") or 0
    if updated < want:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} '
                       "new replicas have been updated...\n")
    if total > updated:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas '
                       "are pending termination...\n")
    if available < updated:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} '
                       "updated replicas are available...\n")
    return True, f'deployment "{name}" successfully rolled out\n'


async def _status(session: Session, info: KindInfo, name: str, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout else None
    last = ""
    while True:
        d = await session.get(info, name)
        if (d.get("spec") or {}).get("paused"):
            raise CliError(f'deployment "{name}" is paused; resume it to see the rollout finish')
        done, message = status_message(d)
        if message != last:
            write(message)
            last = message
        if done:
            return 0
        if not args.watch:
            return 1
        rv = d["metadata"].get("resourceVersion", "")
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise CliError("timed out waiting for the condition")
        try:
            await asyncio.wait_for(_next_change(session, info, name, rv), timeout=remaining)
        except TimeoutError:
            raise CliError("timed out waiting for the condition") from None


async def _next_change(session: Session, info: KindInfo, name: str, rv: str) -> None:
    """Return at the next event of this Deployment (the caller re-reads it)."""
    async for _kind, _obj in session.watch(info, session.ns(info), rv, field_selector=f"metadata.name={name}"):
        return


def _template_of(rs: Obj) -> Obj:
    """The RS's pod template as the Deployment should carry it (no controller-added hash label)."""
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(TEMPLATE_HASH, None)
    return template


async def _history(session: Session, info: KindInfo, name: str, args: argparse.Namespace) -> int:
    d = await session.get(info, name)
    rss = await _owned_replicasets(session, d)
    wanted = args.revision or args.to_revision
    if wanted:
        match = [rs for rs in rss if revision_of(rs) == wanted]
        if not match:
            raise CliError(f"unable to find the specified revision {wanted}")
        write(f"{display_name(info, name)} with revision #{wanted}\nPod Template:\n")
        write("".join(f"  {line}\n" for line in to_yaml(_template_of(match[0])).splitlines()))
        return 0
    write(f"{display_name(info, name)}\nREVISION  CHANGE-CAUSE\n")
    for rs in rss:
        cause = (rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE, "<none>")
        write(f"{revision_of(rs):<10}{cause}\n")
    return 0


async def _undo(session: Session, info: KindInfo, name: str, args: argparse.Namespace) -> int:
    d = await session.get(info, name)
    rss = await _owned_replicasets(session, d)
    current = revision_of(d)
    if args.to_revision:
        match = [rs for rs in rss if revision_of(rs) == args.to_revision]
        if not match:
            raise CliError(f"unable to find specified revision {args.to_revision} in history")
    else:
        match = [rs for rs in reversed(rss) if revision_of(rs) < current]
        if not match:
            raise CliError("no rollout history found for deployment " + repr(name))
    template = _template_of(match[0])

    def change(obj: Obj) -> bool:
        if (obj.get("spec") or {}).get("template") == template:
            return False
        obj.setdefault("spec", {})["template"] = template
        return True

    if await session.edit(info, name, change):
        write(f"{display_name(info, name)} rolled back\n")
    else:
        write(f"{display_name(info, name)} skipped rollback (current template already matches revision "
              f"{revision_of(match[0])})\n")
    return 0


async def _set_paused(session: Session, info: KindInfo, name: str, paused: bool) -> int:
    def change(obj: Obj) -> bool:
        spec = obj.setdefault("spec", {})
        if bool(spec.get("paused")) == paused:
            return False
        spec["paused"] = paused
        return True

    word = "paused" if paused else "resumed"
    if await session.edit(info, name, change):
        write(f"{display_name(info, name)} {word}\n")
        return 0
    raise CliError(f"{display_name(info, name)} is {'already' if paused else 'not'} paused")


async def _restart(session: Session, info: KindInfo, name: str) -> int:
    stamp = now()

    def change(obj: Obj) -> bool:
        if (obj.get("spec") or {}).get("paused"):
            raise CliError(f"can't restart paused deployment (run rollout resume first): {name}")
        template = obj.setdefault("spec", {}).setdefault("template", {})
        template.setdefault("metadata", {}).setdefault("annotations", {})[RESTARTED_AT] = stamp
        return True

    await session.edit(info, name, change)
    write(f"{display_name(info, name)} restarted\n")
    return 0


async def run(session: Session, args: argparse.Namespace) -> int:
    info, name = _deployment(args.resources)
    if args.verb == "status":
        return await _status(session, info, name, args)
    if args.verb == "history":
        return await _history(session, info, name, args)
    if args.verb == "undo":
        return await _undo(session, info, name, args)
    if args.verb in ("pause", "resume"):
        return await _set_paused(session, info, name, args.verb == "pause")
    return await _restart(session, info, name)
