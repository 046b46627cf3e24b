"""`kctl expose deploy|rs|pod|svc NAME --port P [--target-port T] [--type T] [--name N]`: a Service
selecting the same pods as the named object."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl import generators, podspec
from kubectl.commands.create_object import send
from kubectl.errors import CliError
from kubectl.resources import parse_single
from kubectl.session import Obj, Session

EXAMPLES = """\
Examples:
  # A service for the nginx deployment, on port 80, forwarding to the containers' port 8000
  kctl expose deployment nginx --port=80 --target-port=8000

  # A NodePort service for a pod, using the port its container declares
  kctl expose pod valid-pod --type=NodePort

  # A second service for an existing service, under another name
  kctl expose service nginx --port=443 --target-port=8443 --name=nginx-https
"""
TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("expose", parents=parents, help="expose a deployment, replica set, pod or service as a Service",
                       description="kctl expose KIND NAME|KIND/NAME [--port P] [--target-port T] "
                                   "[--type ClusterIP|NodePort|LoadBalancer] [--name N]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resources", nargs="+", metavar="KIND NAME")
    p.add_argument("--port", type=int, default=0, help="the service port (default: the first container port)")
    p.add_argument("--target-port", default="", help="the container port (number or name; default --port)")
    p.add_argument("--type", default="", choices=["", *TYPES], help="the service type (default ClusterIP)")
    p.add_argument("--name", default="", help="the service name (default: the exposed object's)")
    p.add_argument("--protocol", default="TCP", choices=["TCP", "UDP", "SCTP"])
    p.add_argument("--selector", default="", help="pods to select, k=v,... (default: the object's)")
    p.add_argument("-o", "--output", default="", help="print the service as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none")
    p.set_defaults(func=run)


def selector_of(obj: Obj) -> dict[str, str]:
    """The pods an object covers, as a Service selector (match labels only, like kubectl)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Service":
        selector = dict(spec.get("selector") or {})
    elif kind == "Pod":
        selector = dict((obj.get("metadata") or {}).get("labels") or {})
    else:
        sel = spec.get("selector") or {}
        if sel.get("matchExpressions"):
            raise CliError("couldn't convert the selector's matchExpressions to a Service selector; use --selector")
        selector = dict(sel.get("matchLabels") or {}) if isinstance(sel, dict) else {}
    if not selector:
        raise CliError(f"couldn't retrieve selectors via --selector flag or introspection of {kind}")
    return {str(k): str(v) for k, v in selector.items()}


def port_of(obj: Obj) -> int:
    """The first port the object declares: a Service port or a container port."""
    if obj.get("kind") == "Service":
        ports = (obj.get("spec") or {}).get("ports") or []
        return int(ports[0].get("port", 0)) if ports else 0
    for container in podspec.containers(obj, init=False):
        for port in container.get("ports") or []:
            if port.get("containerPort"):
                return int(port["containerPort"])
    return 0


async def run(session: Session, args: argparse.Namespace) -> int:
    info, name = parse_single(args.resources, "expose")
    if info.kind not in ("Deployment", "ReplicaSet", "Pod", "Service", "StatefulSet", "ReplicationController"):
        raise CliError(f"cannot expose a {info.kind}")
    obj = await session.get(info, name)
    selector = generators.key_values([args.selector], "--selector") if args.selector else selector_of(obj)
    port = args.port or port_of(obj)
    if not port:
        raise CliError("couldn't find port via --port flag or introspection")
    labels = dict((obj.get("metadata") or {}).get("labels") or {})
    body = generators.service(args.name or name, session.namespace, selector, port, args.target_port,
                              args.type, args.protocol, labels)
    await send(session, body, args.output, args.dry_run, verb="exposed")
    return 0
