"""`kctl autoscale deployment NAME --min=1 --max=5 --cpu-percent=50`: a HorizontalPodAutoscaler for a
Deployment, ReplicaSet or StatefulSet, like `kubectl autoscale`.

Why it creates autoscaling/v2 (with the CPU target as a Resource metric): that is the stored
form, so `kctl get hpa -o yaml` shows the object as it was made.
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.commands.create_object import send
from kubectl.errors import CliError
from kubectl.resources import parse_single
from kubectl.session import Obj, Session
from kubelite.api.autoscaling import SCALABLE_KINDS

EXAMPLES = """\
Examples:
  # Keep deployment web between 1 and 5 pods, at 50% of the pods' CPU requests
  kctl autoscale deployment web --min=1 --max=5 --cpu-percent=50

  # Same, under another name, with the server's default target (80%)
  kctl autoscale deploy/web --max=10 --name=web-hpa
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("autoscale", parents=parents,
                       help="create a HorizontalPodAutoscaler for a deployment, replica set or stateful set",
                       description="kctl autoscale KIND NAME|KIND/NAME --max=N [--min=N] [--cpu-percent=N] "
                                   "[--name=N]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resources", nargs="+", metavar="KIND NAME")
    p.add_argument("--min", type=int, default=-1, help="the lower limit of pods (default: the server's, 1)")
    p.add_argument("--max", type=int, default=-1, help="the upper limit of pods (required)")
    p.add_argument("--cpu-percent", type=int, default=-1,
                   help="target CPU use of the pods, in percent of their requests (default: the server's, 80)")
    p.add_argument("--name", default="", help="the autoscaler's name (default: the target's)")
    p.add_argument("-o", "--output", default="", help="print the autoscaler as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none")
    p.set_defaults(func=run)


def autoscaler(name: str, namespace: str, target: Obj, min_replicas: int, max_replicas: int,
               cpu_percent: int) -> Obj:
    """The HorizontalPodAutoscaler for `target` (as `kubectl autoscale` builds it)."""
    meta = target.get("metadata") or {}
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": target.get("apiVersion", "apps/v1"), "kind": target.get("kind", ""),
                           "name": meta.get("name", "")},
        "maxReplicas": max_replicas,
    }
    if min_replicas >= 0:
        spec["minReplicas"] = min_replicas
    if cpu_percent >= 0:
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu_percent}}}]
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


async def run(session: Session, args: argparse.Namespace) -> int:
    info, name = parse_single(args.resources, "autoscale")
    if info.custom is not None or info.kind not in SCALABLE_KINDS:
        raise CliError(f"cannot autoscale a {info.kind}: only deployments, replicasets and statefulsets")
    if args.max < 1:
        raise CliError("--max=MAXPODS is required and must be at least 1")
    if 0 <= args.min and args.max < args.min:
        raise CliError(f"--max=MAXPODS must be larger or equal to --min=MINPODS, max: {args.max}, min: {args.min}")
    target = await session.get(info, name)
    body = autoscaler(args.name or name, session.namespace, target, args.min, args.max, args.cpu_percent)
    await send(session, body, args.output, args.dry_run, verb="autoscaled")
    return 0
