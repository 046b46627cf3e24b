"""`kctl logs POD|deploy/NAME|rs/NAME`: a container's output, streamed as it comes."""

from __future__ import annotations

import argparse
import sys
from contextlib import aclosing
from typing import Any

from kubectl.errors import CliError
from kubectl.output import warn
from kubectl.printers import as_dict, as_list, dig, pod_status, selector_text
from kubectl.resources import resolve_kind
from kubectl.session import Obj, Session
from kubelite.api.errors import NotFound
from kubelite.api.timeutil import parse_time_or_none

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", parents=parents, help="print the logs of a container in a pod",
                       description="kctl logs POD | TYPE/NAME [-c CONTAINER] [-f] [--tail N]")
    p.add_argument("target", metavar="POD|TYPE/NAME")
    p.add_argument("container_arg", nargs="?", default="", metavar="CONTAINER")
    p.add_argument("-c", "--container", default="", help="container name (default: the pod's default one)")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming new output")
    p.add_argument("--tail", type=int, default=-1, help="only the last N lines (-1: all)")
    p.add_argument("-p", "--previous", action="store_true", help="the previous (crashed) instance's logs")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its timestamp")
    p.set_defaults(func=run)


def _pod_rank(pod: Obj) -> tuple[int, int, int, float]:
    """Lower is better: running and ready pods first, then younger pods (kubectl prefers active ones)."""
    running = dig(pod, "status", "phase") == "Running" and not dig(pod, "metadata", "deletionTimestamp")
    statuses = as_list(dig(pod, "status", "containerStatuses"))
    ready = bool(statuses) and all(as_dict(s).get("ready") for s in statuses)
    bound = bool(dig(pod, "spec", "nodeName"))
    created = parse_time_or_none(dig(pod, "metadata", "creationTimestamp"))
    return (0 if running else 1, 0 if ready else 1, 0 if bound else 1, -(created.timestamp() if created else 0))


async def resolve_pod(session: Session, target: str) -> Obj:
    """The pod to read: a pod by name, or the best pod of a workload (`deploy/web`, `rs/web-x`)."""
    kind, _, name = target.rpartition("/")
    info = resolve_kind(kind or "pod")
    if not name:
        raise CliError(f"invalid resource name {target!r}")
    if info.kind == "Pod":
        return await session.get(info, name)
    if info.kind not in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        raise CliError(f"cannot get logs of a {info.kind}: use a pod or a workload (deploy/NAME, rs/NAME)")
    workload = await session.get(info, name)
    selector = selector_text(dig(workload, "spec", "selector"))
    if selector == "<none>":
        raise CliError(f"{info.kind.lower()} {name} has no selector")
    pods, _ = await session.list(resolve_kind("pods"), session.ns(info), selector)
    if not pods:
        raise CliError(f"no pods found for {info.kind.lower()} {name} (selector {selector})")
    pods.sort(key=_pod_rank)
    if len(pods) > 1:
        warn(f"Found {len(pods)} pods, using pod/{dig(pods[0], 'metadata', 'name')}")
    return pods[0]


def pick_container(pod: Obj, requested: str) -> str:
    names = [str(as_dict(c).get("name", "")) for c in as_list(dig(pod, "spec", "containers"))]
    init_names = [str(as_dict(c).get("name", "")) for c in as_list(dig(pod, "spec", "initContainers"))]
    pod_name = dig(pod, "metadata", "name")
    if requested:
        if requested not in names and requested not in init_names:
            raise CliError(f"container {requested} is not valid for pod {pod_name}")
        return requested
    if len(names) == 1:
        return names[0]
    if not names:
        raise CliError(f"pod {pod_name} has no containers")
    default = as_dict(dig(pod, "metadata", "annotations")).get(DEFAULT_CONTAINER_ANNOTATION)
    chosen = str(default) if default in names else names[0]
    warn(f'Defaulted container "{chosen}" out of: {", ".join(names)}')
    return chosen


async def run(session: Session, args: argparse.Namespace) -> int:
    args.streaming = args.follow
    try:
        pod = await resolve_pod(session, args.target)
    except NotFound:
        if "/" in args.target:
            raise
        raise NotFound(f'pods "{args.target}" not found', name=args.target, kind="pods") from None
    container = pick_container(pod, args.container or args.container_arg)
    if pod_status(pod) in ("Pending", "ContainerCreating") and not dig(pod, "status", "containerStatuses"):
        raise CliError(f'container "{container}" in pod "{dig(pod, "metadata", "name")}" is waiting to start: '
                       "ContainerCreating")
    chunks = session.client.logs(
        str(dig(pod, "metadata", "namespace") or session.namespace), str(dig(pod, "metadata", "name")),
        container=container, follow=args.follow, tail_lines=args.tail if args.tail >= 0 else None,
        previous=args.previous, timestamps=args.timestamps)
    out = sys.stdout.buffer
    async with aclosing(chunks) as stream:
        async for chunk in stream:
            out.write(chunk)
            out.flush()
    return 0
