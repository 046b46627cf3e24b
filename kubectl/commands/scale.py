"""`kctl scale deploy/web --replicas=N`: set spec.replicas, retrying on concurrent writes."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.errors import CliError, ReportedFailure, report
from kubectl.output import write
from kubectl.resources import display_name, parse_targets
from kubectl.session import Obj, Session
from kubelite.api.custom import read_path, write_path
from kubelite.api.errors import ApiError
from kubelite.api.registry import KindInfo

SCALABLE = ("Deployment", "ReplicaSet", "StatefulSet")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scale", parents=parents, help="set the number of replicas of a Deployment or ReplicaSet",
                       description="kctl scale deploy/NAME --replicas=N | kctl scale deployment NAME --replicas N")
    p.add_argument("resources", nargs="+", metavar="KIND [NAME]")
    p.add_argument("--replicas", type=int, required=True, help="the new number of replicas")
    p.add_argument("--current-replicas", type=int, default=-1,
                   help="only scale if the current spec.replicas equals this")
    p.set_defaults(func=run)


def scalable(info: KindInfo) -> bool:
    return info.kind in SCALABLE if info.custom is None else info.custom.scale is not None


async def scale_one(session: Session, info: KindInfo, name: str, replicas: int, current: int) -> None:
    """Set the replicas at `.spec.replicas`, or where a custom kind's CRD says (its specReplicasPath)."""
    path = info.custom.scale.spec_replicas if info.custom is not None and info.custom.scale else ".spec.replicas"

    def change(obj: Obj) -> bool:
        have = read_path(obj, path)
        have = 1 if have is None and info.custom is None else have
        if current >= 0 and have != current:
            raise CliError(f"Expected replicas to be {current}, was {have}")
        if read_path(obj, path) == replicas:
            return False
        try:
            write_path(obj, path, replicas)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return True

    await session.edit(info, name, change)


async def run(session: Session, args: argparse.Namespace) -> int:
    if args.replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    failed = False
    for target in parse_targets(args.resources):
        if not scalable(target.info):
            raise CliError(f"cannot scale {target.info.resource}: only deployments, replicasets, statefulsets and "
                           "custom kinds with a scale subresource scale")
        if not target.names:
            raise CliError("resource(s) were provided, but no name was specified")
        for name in target.names:
            try:
                await scale_one(session, target.info, name, args.replicas, args.current_replicas)
            except ApiError as err:
                report(err, session.server)
                failed = True
                continue
            write(f"{display_name(target.info, name)} scaled\n")
    if failed:
        raise ReportedFailure()
    return 0
