"""`kctl logs POD|deploy/NAME|rs/NAME`: a container's output, streamed as it comes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any

from kubectl.errors import CliError
from kubectl.logfilter import LineFilter, line_time
from kubectl.output import warn
from kubectl.printers import as_dict, as_list, dig, pod_status, selector_text
from kubectl.resources import resolve_kind
from kubectl.session import Obj, Session
from kubelite.api.durations import duration
from kubelite.api.errors import NotFound
from kubelite.api.timeutil import parse_time_or_none, utcnow

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
EXAMPLES = """\
Examples:
  # The logs of pod nginx (its only container)
  kctl logs nginx

  # The last 20 lines of the web deployment's pod, then follow
  kctl logs deploy/web --tail=20 -f

  # Every container of every pod labelled app=web, each line prefixed with its source
  kctl logs -l app=web --all-containers --prefix

  # Only the last hour, with timestamps
  kctl logs nginx --since=1h --timestamps
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", parents=parents, help="print the logs of a container in a pod",
                       description="kctl logs POD | TYPE/NAME | -l SELECTOR [-c CONTAINER] [-f] [--tail N] "
                                   "[--since 5m] [--all-containers] [--prefix]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="?", default="", metavar="POD|TYPE/NAME")
    p.add_argument("container_arg", nargs="?", default="", metavar="CONTAINER")
    p.add_argument("-c", "--container", default="", help="container name (default: the pod's default one)")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming new output")
    p.add_argument("--tail", type=int, default=-1, help="only the last N lines (-1: all)")
    p.add_argument("-p", "--previous", action="store_true", help="the previous (crashed) instance's logs")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its timestamp")
    p.add_argument("--since", type=duration, default=None, help="only lines newer than this, e.g. 5s, 2m, 3h")
    p.add_argument("--since-time", default="", help="only lines at or after this RFC 3339 time")
    p.add_argument("-l", "--selector", default="", help="the logs of every pod matching this label selector")
    p.add_argument("--all-containers", action="store_true", help="the logs of every container of the pod(s)")
    p.add_argument("--prefix", action="store_true", help="start each line with [pod/NAME/CONTAINER]")
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
    """The pod to read: a pod by name, or the best pod of a workload (`deploy/web`, `rs/web-x`) or of a
    Service's selector (`svc/web`)."""
    kind, _, name = target.rpartition("/")
    info = resolve_kind(kind or "pod")
    if not name:
        raise CliError(f"invalid resource name {target!r}")
    if info.kind == "Pod":
        return await session.get(info, name)
    if info.kind not in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Service"):
        raise CliError(f"cannot choose a pod of a {info.kind}: use a pod, a workload (deploy/NAME, rs/NAME) "
                       "or a Service (svc/NAME)")
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


async def _pods(session: Session, args: argparse.Namespace) -> list[Obj]:
    if args.selector:
        if args.target:
            raise CliError("only a selector (-l) or a POD name may be given, not both")
        pods, _ = await session.list(resolve_kind("pods"), session.namespace, args.selector)
        if not pods:
            raise CliError(f"no pods found matching {args.selector}")
        return sorted(pods, key=lambda p: str(dig(p, "metadata", "name")))
    if not args.target:
        raise CliError("expected POD, TYPE/NAME or -l SELECTOR")
    try:
        return [await resolve_pod(session, args.target)]
    except NotFound:
        if "/" in args.target:
            raise
        raise NotFound(f'pods "{args.target}" not found', name=args.target, kind="pods") from None


def _since(args: argparse.Namespace) -> datetime | None:
    if args.since is not None and args.since_time:
        raise CliError("at most one of --since or --since-time may be specified")
    if args.since_time:
        when = line_time(args.since_time)
        if when is None:
            raise CliError(f"invalid --since-time {args.since_time!r}: expected RFC 3339, e.g. 2024-01-02T15:04:05Z")
        return when
    return utcnow() - timedelta(seconds=args.since) if args.since is not None else None


async def run(session: Session, args: argparse.Namespace) -> int:
    args.streaming = args.follow
    since = _since(args)
    streams: list[tuple[Obj, str]] = []
    for pod in await _pods(session, args):
        if args.all_containers:
            names = [str(as_dict(c).get("name", "")) for field in ("initContainers", "containers")
                     for c in as_list(dig(pod, "spec", field))]
            streams.extend((pod, n) for n in names)
            continue
        container = pick_container(pod, args.container or args.container_arg)
        if pod_status(pod) in ("Pending", "ContainerCreating") and not dig(pod, "status", "containerStatuses"):
            raise CliError(f'container "{container}" in pod "{dig(pod, "metadata", "name")}" is waiting to start: '
                           "ContainerCreating")
        streams.append((pod, container))
    copies = [_copy(session, args, pod, container, since) for pod, container in streams]
    if args.follow:
        await asyncio.gather(*copies)
    else:
        for copy in copies:
            await copy
    return 0


async def _copy(session: Session, args: argparse.Namespace, pod: Obj, container: str, since: datetime | None) -> None:
    name = str(dig(pod, "metadata", "name"))
    prefix = f"[pod/{name}/{container}] " if args.prefix else ""
    shaper = LineFilter(since, args.timestamps, prefix)
    chunks = session.client.logs(
        str(dig(pod, "metadata", "namespace") or session.namespace), name,
        container=container, follow=args.follow, tail_lines=args.tail if args.tail >= 0 else None,
        previous=args.previous, timestamps=shaper.needs_timestamps)
    out = sys.stdout.buffer
    plain = since is None and not prefix
    async with aclosing(chunks) as stream:
        async for chunk in stream:
            out.write(chunk if plain else shaper.feed(chunk))
            out.flush()
    out.write(shaper.flush())
    out.flush()
