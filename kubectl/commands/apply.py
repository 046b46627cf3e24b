"""`kctl apply -f` and `kctl create -f`: validate every document first, then write object by object."""

from __future__ import annotations

import argparse
import io
from typing import Any

import yaml

from kubectl import kustomize
from kubectl.apply import annotate, apply_one, needs_update
from kubectl.commands.prune import prune
from kubectl.errors import CliError, ReportedFailure, report
from kubectl.manifests import Manifest, load_manifests, namespaces_first
from kubectl.output import check_format, is_structured, print_objects, write
from kubectl.resources import display_name
from kubectl.session import Obj, Session, with_type
from kubelite.api.errors import ApiError, NotFound


def add_file_flags(p: argparse.ArgumentParser, verb: str, required: bool = True) -> None:
    p.add_argument("-f", "--filename", action="append", default=[], required=required, metavar="FILE",
                   help=f"file, directory or - (stdin) with the manifests to {verb}; repeatable")
    p.add_argument("-R", "--recursive", action="store_true", help="also read manifests in sub-directories")


EXAMPLES = """\
Examples:
  # Apply a file, a directory, or stdin
  kctl apply -f ./web.yaml
  kctl apply -f ./manifests/ -R
  cat web.yaml | kctl apply -f -

  # Apply a kustomization directory
  kctl apply -k ./overlays/prod

  # Apply a directory and delete the objects labelled app=web that are no longer in it
  kctl apply --prune -f ./manifests -l app=web

  # Show what would be sent without changing anything
  kctl apply -f web.yaml --dry-run=server -o yaml
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("apply", parents=parents, help="create or update resources from manifests",
                       description="Create objects that do not exist and merge the manifest into those that do.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_file_flags(p, "apply", required=False)
    p.add_argument("-k", "--kustomize", default="", metavar="DIR", help="apply the kustomization in DIR")
    p.add_argument("--prune", action="store_true",
                   help="delete objects (matching -l, or --all) that were applied before but are not in the input")
    p.add_argument("-l", "--selector", default="", help="with --prune: the objects that may be pruned")
    p.add_argument("--all", action="store_true", help="with --prune: every applied object may be pruned")
    p.add_argument("-o", "--output", default="", help="print the applied objects as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none",
                   help="client: only validate locally; server: let the apiserver validate without saving")
    p.set_defaults(func=run_apply)


def load(session: Session, args: argparse.Namespace, require_name: bool = True, verb: str = "apply") -> list[Manifest]:
    """The manifests of `-f` files or of the `-k` kustomization (validated, namespaces first);
    `verb` names the command in the error for input without any object."""
    kustomization = getattr(args, "kustomize", "")
    if kustomization and args.filename:
        raise CliError("only one of -f or -k can be specified")
    if not kustomization and not args.filename:
        raise CliError("must specify one of -f and -k")
    paths, stdin = args.filename, None
    if kustomization:
        text = yaml.safe_dump_all(kustomize.build(kustomization), sort_keys=False)
        paths, stdin = ["-"], io.StringIO(text)
    return namespaces_first(load_manifests(
        paths, recursive=args.recursive, namespace=session.namespace,
        explicit_namespace=session.explicit_namespace, require_name=require_name, stdin=stdin,
        verb=verb))


async def run_apply(session: Session, args: argparse.Namespace) -> int:
    check_format(args.output)
    if args.prune and not (args.selector or args.all):
        raise CliError("all resources selected for prune without explicitly passing --all. To prune all "
                       "resources, pass the --all flag. If you did not mean to prune all resources, specify "
                       "a label selector")
    manifests = load(session, args)
    failed = False
    applied: list[Obj] = []
    suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(args.dry_run, "")
    for manifest in manifests:
        label = display_name(manifest.info, manifest.name)
        try:
            if args.dry_run != "none":
                result, _, shown = await dry_run_one(session, manifest, server=args.dry_run == "server")
            else:
                result = await apply_one(session, manifest)
                if is_structured(args.output):
                    shown = await session.get(manifest.info, manifest.name, manifest.namespace)
        except ApiError as err:
            report(err, session.server)
            failed = True
            continue
        if is_structured(args.output):
            applied.append(shown)
        else:
            write(f"{label} {result}{suffix}\n")
    if args.prune and not failed:
        await prune(session, manifests, args.selector, args.dry_run, suffix)
    if applied:
        print_objects(applied, args.output, single=len(applied) == 1)
    if failed:
        raise ReportedFailure()
    return 0


async def dry_run_one(session: Session, manifest: Manifest, server: bool) -> tuple[str, Obj | None, Obj]:
    """What apply would do: (created|configured|unchanged, the live object or None, the result).

    With `server`, the apiserver validates and defaults the result (nothing is saved either
    way); a client dry run's result is the local merge.
    """
    info = manifest.info
    try:
        live: Obj | None = await session.get(info, manifest.name, manifest.namespace)
    except NotFound:
        live = None
    if live is None:
        body = with_type(info, annotate(manifest.body))
        if server:
            body = with_type(info, await session.client.create_raw(info.resource, body, manifest.namespace or None,
                                                                   dry_run=True))
        return "created", None, body
    changed, merged = needs_update(live, manifest.body)
    if not changed:
        return "unchanged", live, live
    if server:
        merged = with_type(info, await session.client.update_raw(info.resource, merged, manifest.namespace or None,
                                                                 dry_run=True))
    return "configured", live, merged


async def create_from_files(session: Session, args: argparse.Namespace) -> int:
    """`kctl create -f`: like apply, but an existing object is an AlreadyExists error."""
    manifests = load(session, args, require_name=False, verb="create")
    failed = False
    for manifest in manifests:
        try:
            created = await session.create(manifest.info, manifest.body)
        except ApiError as err:
            report(err, session.server)
            failed = True
            continue
        name = str((created.get("metadata") or {}).get("name") or manifest.name)
        write(f"{display_name(manifest.info, name)} created\n")
    if failed:
        raise ReportedFailure()
    return 0
