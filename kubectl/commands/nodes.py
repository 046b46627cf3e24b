"""`kctl cordon|uncordon|drain NODE...`: take nodes out of (and back into) scheduling.

Why drain evicts pods instead of moving them: as in Kubernetes, pods are
never migrated; a drained node's pods are evicted (deleted gracefully, unless
a PodDisruptionBudget refuses: then drain says which budget and asks again
every few seconds until `--timeout`) and their
controllers (ReplicaSet, StatefulSet, Job) create replacements, which the
scheduler puts on other nodes because this one is now unschedulable. Pods no
controller would recreate are refused unless `--force`, DaemonSet pods unless
`--ignore-daemonsets` (their controller tolerates cordoned nodes anyway), and
pods with emptyDir data unless `--delete-emptydir-data`, so no data goes by surprise.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from kubectl.errors import CliError
from kubectl.output import write
from kubectl.session import Obj, Session
from kubelite.api.durations import duration
from kubelite.api.errors import NotFound, TooManyRequests
from kubelite.api.registry import lookup


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    for verb, text in (("cordon", "mark nodes unschedulable"), ("uncordon", "mark nodes schedulable"),
                       ("drain", "cordon nodes and delete their pods so they run elsewhere")):
        p = sub.add_parser(verb, parents=parents, help=text, description=f"kctl {verb} NODE...")
        p.add_argument("nodes", nargs="+", metavar="NODE")
        if verb == "drain":
            p.add_argument("--ignore-daemonsets", action="store_true", help="skip DaemonSet-managed pods")
            p.add_argument("--force", action="store_true",
                           help="also delete pods not managed by a controller (they are lost)")
            p.add_argument("--delete-emptydir-data", action="store_true",
                           help="also delete pods using emptyDir volumes (their data is lost)")
            p.add_argument("--grace-period", type=int, default=-1,
                           help="seconds each pod gets to stop (-1 = the pod's own setting)")
            p.add_argument("--timeout", type=duration, default=0.0,
                           help="seconds to wait for the pods to be gone (0 = forever)")
        p.set_defaults(func=run, verb=verb)


def _node_name(arg: str) -> str:
    kind, slash, name = arg.partition("/")
    if not slash:
        return arg
    if lookup(kind).kind != "Node":
        raise CliError(f"{arg}: {kind} is not a node")
    return name


async def set_unschedulable(session: Session, name: str, value: bool) -> bool:
    """Flip spec.unschedulable; False when it already had that value."""
    def change(obj: Obj) -> bool:
        spec = obj.setdefault("spec", {})
        if bool(spec.get("unschedulable")) == value:
            return False
        if value:
            spec["unschedulable"] = True
        else:
            spec.pop("unschedulable", None)
        return True

    return await session.edit(lookup("Node"), name, change)


def _controller_kind(pod: Obj) -> str:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind", ""))
    return ""


def plan_drain(pods: list[Obj], args: argparse.Namespace) -> tuple[list[Obj], list[str]]:
    """(pods to delete, problems that block the drain) with kubectl's rules."""
    delete: list[Obj] = []
    problems: list[str] = []
    for pod in pods:
        meta = pod["metadata"]
        ref = f"{meta.get('namespace')}/{meta['name']}"
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            delete.append(pod)
            continue
        owner = _controller_kind(pod)
        if owner == "DaemonSet":
            if not args.ignore_daemonsets:
                problems.append(f"cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {ref}")
            continue
        if not owner and not args.force:
            problems.append("cannot delete Pods that declare no controller (use --force to override): " + ref)
            continue
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if any("emptyDir" in v for v in volumes) and not args.delete_emptydir_data:
            problems.append(f"cannot delete Pods with local storage (use --delete-emptydir-data to override): {ref}")
            continue
        delete.append(pod)
    return delete, problems


EVICTION_RETRY_SECONDS = 5.0
"""How long drain waits before asking again for an eviction a disruption budget refused (kubectl's 5s)."""


async def _evict(session: Session, pod: Obj, grace: int | None, deadline: float | None) -> None:
    """Evict one pod, retrying while a PodDisruptionBudget refuses it, until `deadline`."""
    meta = pod["metadata"]
    ns, name = meta.get("namespace") or "default", meta["name"]
    write(f"evicting pod {ns}/{name}\n")
    while True:
        try:
            await session.client.evict(name, ns, grace_period_seconds=grace)
            return
        except NotFound:
            return
        except TooManyRequests as exc:
            if deadline is not None and time.monotonic() + EVICTION_RETRY_SECONDS > deadline:
                raise CliError(f"drain did not complete within the timeout: cannot evict pod {ns}/{name}: "
                               f"{exc.message}") from None
            write(f'error when evicting pods/"{name}" -n "{ns}" (will retry after '
                  f"{EVICTION_RETRY_SECONDS:g}s): {exc.message}\n")
        await asyncio.sleep(EVICTION_RETRY_SECONDS)  # the budget's own controller must see pods become Ready


async def _drain(session: Session, name: str, args: argparse.Namespace) -> None:
    pod_info = lookup("Pod")
    pods, _ = await session.list(pod_info, None, field_selector=f"spec.nodeName={name}")
    delete, problems = plan_drain(pods, args)
    if problems:
        raise CliError(f"unable to drain node {name!r}", ["error: " + p for p in problems])
    grace = None if args.grace_period < 0 else args.grace_period
    deadline = time.monotonic() + args.timeout if args.timeout else None
    await asyncio.gather(*(_evict(session, pod, grace, deadline) for pod in delete))
    pending = {(p["metadata"].get("namespace"), p["metadata"]["name"], p["metadata"].get("uid")) for p in delete}
    while pending:
        for ns, pod_name, uid in sorted(pending, key=str):
            try:
                current = await session.get(pod_info, pod_name, ns)
                gone = current["metadata"].get("uid") != uid
            except NotFound:
                gone = True
            if gone:
                write(f"pod/{pod_name} evicted\n")
                pending.discard((ns, pod_name, uid))
        if not pending:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise CliError(f"drain did not complete within {args.timeout:g}s; pods left: "
                           + ", ".join(f"{ns}/{n}" for ns, n, _ in sorted(pending, key=str)))
        await asyncio.sleep(0.5)  # polling the apiserver for the pods' removal


async def run(session: Session, args: argparse.Namespace) -> int:
    names = [_node_name(a) for a in args.nodes]
    for name in names:
        await session.get(lookup("Node"), name)  # NotFound before touching any node
    for name in names:
        changed = await set_unschedulable(session, name, args.verb != "uncordon")
        word = "uncordoned" if args.verb == "uncordon" else "cordoned"
        write(f"node/{name} {word}\n" if changed else f"node/{name} already {word}\n")
        if args.verb == "drain":
            await _drain(session, name, args)
            write(f"node/{name} drained\n")
    return 0
