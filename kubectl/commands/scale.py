"""`kctl scale deploy/web --replicas=N`: set spec.replicas, retrying on concurrent writes."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.errors import CliError, ReportedFailure, report
from kubectl.output import write
from kubectl.resources import display_name, parse_targets
from kubectl.session import Obj, Session
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


async def scale_one(session: Session, info: KindInfo, name: str, replicas: int, current: int) -> None:
    def change(obj: Obj) -> bool:
        spec = obj.setdefault("spec", {})
        if current >= 0 and spec.get("replicas", 1) != current:
            raise CliError(f"Expected replicas to be {current}, was {spec.get('replicas', 1)}")
        if spec.get("replicas") == replicas:
            return False
        spec["replicas"] = replicas
        return True

    await session.edit(info, name, change)


async def run(session: Session, args: argparse.Namespace) -> int:
    if args.replicas < 0:
        raise CliError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    failed = False
    for target in parse_targets(args.resources):
        if target.info.kind not in SCALABLE:
            raise CliError(f"cannot scale {target.info.resource}: only deployments and replicasets scale")
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
