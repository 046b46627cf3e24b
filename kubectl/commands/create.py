"""`kctl create -f | namespace NAME | configmap NAME --from-literal k=v | deployment NAME --image I | serviceaccount NAME | token SA`."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl import generators
from kubectl.commands.apply import add_file_flags, create_from_files
from kubectl.commands.create_object import send
from kubectl.errors import CliError
from kubectl.output import print_objects, write
from kubectl.session import Obj, Session
from kubelite.api.durations import parse_seconds

EXAMPLES = """\
Examples:
  # Create the objects in a file
  kctl create -f ./pod.yaml

  # Create a deployment running busybox with a command
  kctl create deployment my-dep --image=busybox --replicas=2 --port=8080 -- date

  # Create a configmap from a directory, a file, an env file and literals
  kctl create configmap my-config --from-file=path/to/dir --from-env-file=app.env --from-literal=key1=config1

  # Create a generic secret, a TLS secret and a registry secret
  kctl create secret generic my-secret --from-literal=password=s3cr3t
  kctl create secret tls tls-secret --cert=path/to/tls.crt --key=path/to/tls.key
  kctl create secret docker-registry my-reg --docker-server=reg.example:5000 --docker-username=u --docker-password=p

  # Create a namespace and a service account, and request a token for it
  kctl create namespace my-namespace
  kctl create serviceaccount robot && kctl create token robot --duration 1h
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("create", parents=parents, help="create resources from files or from arguments",
                       description="kctl create -f FILE | namespace NAME | configmap NAME --from-literal k=v "
                                   "| secret generic|tls|docker-registry NAME ... | deployment NAME --image IMAGE "
                                   "| serviceaccount NAME | token SERVICEACCOUNT [--audience A] [--duration D]",
                       epilog=EXAMPLES, formatter_class=fmt)
    add_file_flags(p, "create", required=False)
    p.add_argument("-o", "--output", default="", help="print the created object as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none",
                   help="client: print the object without sending it")
    p.set_defaults(func=run, kind_sub="")
    kinds = p.add_subparsers(dest="kind_sub", metavar="KIND")

    def kind(name: str, aliases: list[str], help_text: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = kinds.add_parser(name, aliases=aliases, parents=parents, help=help_text,
                                                       description=help_text, epilog=EXAMPLES, formatter_class=fmt)
        return sp

    ns = kind("namespace", ["ns"], "create a namespace")
    ns.add_argument("name")
    cm = kind("configmap", ["cm"], "create a configmap from literals, files, directories or env files")
    cm.add_argument("name")
    add_key_sources(cm)
    secret = kind("secret", [], "create a secret: secret generic|tls|docker-registry NAME ...")
    secret.add_argument("secret_type", choices=["generic", "tls", "docker-registry"])
    secret.add_argument("name")
    add_key_sources(secret)
    secret.add_argument("--type", dest="generic_type", default="Opaque", help="the type of a generic secret")
    secret.add_argument("--cert", default="", help="tls: the PEM certificate file")
    secret.add_argument("--key", default="", help="tls: the PEM private key file")
    secret.add_argument("--docker-server", default="https://index.docker.io/v1/", help="docker-registry: server")
    secret.add_argument("--docker-username", default="", help="docker-registry: user name")
    secret.add_argument("--docker-password", default="", help="docker-registry: password")
    secret.add_argument("--docker-email", default="", help="docker-registry: email")
    deploy = kind("deployment", ["deploy"], "create a deployment: deployment NAME --image I [-- COMMAND ARGS...]")
    deploy.add_argument("name")
    deploy.add_argument("--image", required=True)
    deploy.add_argument("--replicas", type=int, default=1)
    deploy.add_argument("--port", type=int, default=0)
    deploy.set_defaults(takes_trailing=True)
    sa = kind("serviceaccount", ["sa"], "create a service account")
    sa.add_argument("name")
    token = kind("token", [], "request a token for a service account (TokenRequest)")
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


def add_key_sources(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-literal", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--from-file", action="append", default=[], metavar="[KEY=]FILE|DIR")
    p.add_argument("--from-env-file", action="append", default=[], metavar="FILE",
                   help="KEY=VALUE lines (# comments) read as keys")


def build(args: argparse.Namespace, namespace: str) -> Obj:
    """The object a `create KIND NAME` command describes."""
    kind = args.kind_sub
    if kind in ("namespace", "ns"):
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args.name}}
    if kind in ("serviceaccount", "sa"):
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": args.name, "namespace": namespace}}
    if kind in ("deployment", "deploy"):
        return generators.deployment(args.name, namespace, args.image, args.replicas, args.port, args.trailing)
    if kind == "secret" and args.secret_type == "tls":
        return generators.tls_secret(args.name, namespace, args.cert, args.key)
    if kind == "secret" and args.secret_type == "docker-registry":
        return generators.docker_registry_secret(args.name, namespace, args.docker_server, args.docker_username,
                                                 args.docker_password, args.docker_email)
    sources = generators.key_sources(args.from_literal, args.from_file, args.from_env_file)
    if kind == "secret":
        return generators.secret(args.name, namespace, sources, args.generic_type)
    return generators.configmap(args.name, namespace, sources)


async def run(session: Session, args: argparse.Namespace) -> int:
    if not args.kind_sub:
        if not args.filename:
            raise CliError("must specify one of -f or a kind to create (namespace, configmap, secret, deployment)")
        return await create_from_files(session, args)
    await send(session, build(args, session.namespace), args.output, args.dry_run)
    return 0


def parse_duration(text: str) -> int:
    """`--duration 1h30m` -> whole seconds, as `kubectl create token --duration`."""
    try:
        return int(parse_seconds(text))
    except ValueError as exc:
        raise CliError(f'invalid argument "{text}" for "--duration" flag: {exc}') from None


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
