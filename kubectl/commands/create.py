"""`kctl create -f | namespace NAME | configmap NAME --from-literal k=v | deployment NAME --image I | serviceaccount NAME | token SA`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubectl.commands.apply import add_file_flags, create_from_files
from kubectl.errors import CliError
from kubectl.manifests import check_document
from kubectl.output import print_objects, write
from kubectl.resources import display_name, resolve_kind
from kubectl.session import Obj, Session
from kubelite.api import timeutil
from kubelite.api.errors import StatusCause


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("create", parents=parents, help="create resources from files or from arguments",
                       description="kctl create -f FILE | namespace NAME | configmap NAME --from-literal k=v "
                                   "| secret generic NAME --from-literal k=v | deployment NAME --image IMAGE "
                                   "| serviceaccount NAME | token SERVICEACCOUNT [--audience A] [--duration D]")
    add_file_flags(p, "create", required=False)
    p.add_argument("-o", "--output", default="", help="print the created object as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none",
                   help="client: print the object without sending it")
    p.set_defaults(func=run, kind_sub="")
    kinds = p.add_subparsers(dest="kind_sub", metavar="KIND")
    ns = kinds.add_parser("namespace", aliases=["ns"], parents=parents, help="create a namespace")
    ns.add_argument("name")
    cm = kinds.add_parser("configmap", aliases=["cm"], parents=parents, help="create a configmap")
    cm.add_argument("name")
    cm.add_argument("--from-literal", action="append", default=[], metavar="KEY=VALUE")
    cm.add_argument("--from-file", action="append", default=[], metavar="[KEY=]FILE")
    secret = kinds.add_parser("secret", parents=parents, help="create a secret: secret generic NAME ...")
    secret.add_argument("secret_type", choices=["generic"])
    secret.add_argument("name")
    secret.add_argument("--from-literal", action="append", default=[], metavar="KEY=VALUE")
    secret.add_argument("--from-file", action="append", default=[], metavar="[KEY=]FILE")
    deploy = kinds.add_parser("deployment", aliases=["deploy"], parents=parents, help="create a deployment")
    deploy.add_argument("name")
    deploy.add_argument("--image", required=True)
    deploy.add_argument("--replicas", type=int, default=1)
    deploy.add_argument("--port", type=int, default=0)
    sa = kinds.add_parser("serviceaccount", aliases=["sa"], parents=parents, help="create a service account")
    sa.add_argument("name")
    token = kinds.add_parser("token", parents=parents, help="request a token for a service account (TokenRequest)")
    token.add_argument("name", metavar="SERVICEACCOUNT")
    token.add_argument("--audience", action="append", default=[],
                       help="intended audience of the token (repeatable; default: the apiserver's audiences)")
    token.add_argument("--duration", default="", help="requested lifetime, e.g. 10m, 1h, 3600s (min 10m)")
    token.add_argument("--bound-object-kind", default="", choices=["", "Pod"],
                       help="kind of the object the token is bound to")
    token.add_argument("--bound-object-name", default="", help="name of the object the token is bound to")
    token.add_argument("--bound-object-uid", default="", help="uid of the object the token is bound to")
    token.add_argument("-o", "--output", default="", help="print the TokenRequest as json|yaml")
    token.set_defaults(func=run_token)
    for sp in (ns, cm, secret, deploy, sa):
        sp.add_argument("-o", "--output", default="", help="print the created object as json|yaml|name")
        sp.add_argument("--dry-run", choices=["none", "client", "server"], default="none")
        sp.set_defaults(func=run)


def _data(literals: list[str], files: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in literals:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"invalid literal source {item!r}, expected key=value")
        data[key] = value
    for item in files:
        key, sep, path = item.partition("=")
        if not sep:
            key, path = Path(item).name, item
        try:
            data[key] = Path(path).read_text()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return data


def build(args: argparse.Namespace, namespace: str) -> Obj:
    """The object a `create KIND NAME` command describes."""
    kind = args.kind_sub
    if kind in ("namespace", "ns"):
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args.name}}
    if kind in ("configmap", "cm"):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": args.name, "namespace": namespace},
                "data": _data(args.from_literal, args.from_file)}
    if kind == "secret":
        import base64

        raw = _data(args.from_literal, args.from_file)
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in raw.items()}
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": args.name, "namespace": namespace}, "data": encoded}
    if kind in ("serviceaccount", "sa"):
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": args.name, "namespace": namespace}}
    labels = {"app": args.name}
    container: Obj = {"name": args.image.split("/")[-1].split(":")[0].split("@")[0], "image": args.image}
    if args.port:
        container["ports"] = [{"containerPort": args.port}]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": args.name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": args.replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}


async def run(session: Session, args: argparse.Namespace) -> int:
    if not args.kind_sub:
        if not args.filename:
            raise CliError("must specify one of -f or a kind to create (namespace, configmap, secret, deployment)")
        return await create_from_files(session, args)
    body = build(args, session.namespace)
    info, causes = check_document(body)
    if info is None or causes:
        raise CliError(str(causes[0]) if causes else "invalid object",
                       [f"error: {StatusCause(c.field, c.message)}" for c in causes])
    if args.dry_run == "client":
        print_objects([body], args.output or "yaml", single=True)
        return 0
    if args.dry_run == "server":
        created = await session.client.create_raw(info.resource, body, session.ns(info) or None, dry_run=True)
    else:
        created = await session.create(info, body)
    if args.output in ("json", "yaml", "name"):
        print_objects([created], args.output, single=True)
    else:
        write(f"{display_name(resolve_kind(info.kind), args.name)} created\n")
    return 0


def parse_duration(text: str) -> int:
    """Go-style duration ("1h30m", "10m", "600s") -> whole seconds, as `kubectl create token --duration`."""
    try:
        seconds = timeutil.parse_duration(text)
    except ValueError:
        raise CliError(f'invalid argument "{text}" for "--duration" flag: expected a duration like 10m or 1h') \
            from None
    return int(seconds)


async def run_token(session: Session, args: argparse.Namespace) -> int:
    """`kctl create token SA`: print a freshly signed token (or the whole TokenRequest with -o)."""
    seconds = parse_duration(args.duration) if args.duration else None
    bound = None
    if args.bound_object_kind or args.bound_object_name:
        if not (args.bound_object_kind and args.bound_object_name):
            raise CliError("--bound-object-kind and --bound-object-name must be given together")
        bound = (args.bound_object_name, args.bound_object_uid)
    answer = await session.client.create_token(args.name, session.namespace, audiences=args.audience,
                                               expiration_seconds=seconds, bound_pod=bound)
    if args.output in ("json", "yaml"):
        print_objects([answer.to_dict()], args.output, single=True)
    else:
        write(answer.status.token + "\n")
    return 0
