"""`kctl apply -f` and `kctl create -f`: validate every document first, then write object by object."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.apply import annotate, apply_one, needs_update
from kubectl.errors import ReportedFailure, report
from kubectl.manifests import Manifest, load_manifests, namespaces_first
from kubectl.output import print_objects, write
from kubectl.resources import display_name
from kubectl.session import Session
from kubelite.api.errors import ApiError, NotFound


def add_file_flags(p: argparse.ArgumentParser, verb: str, required: bool = True) -> None:
    p.add_argument("-f", "--filename", action="append", default=[], required=required, metavar="FILE",
                   help=f"file, directory or - (stdin) with the manifests to {verb}; repeatable")
    p.add_argument("-R", "--recursive", action="store_true", help="also read manifests in sub-directories")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("apply", parents=parents, help="create or update resources from manifests",
                       description="Create objects that do not exist and merge the manifest into those that do.")
    add_file_flags(p, "apply")
    p.add_argument("-o", "--output", default="", help="print the applied objects as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none",
                   help="client: only validate locally; server: let the apiserver validate without saving")
    p.set_defaults(func=run_apply)


def load(session: Session, args: argparse.Namespace, require_name: bool = True) -> list[Manifest]:
    return namespaces_first(load_manifests(
        args.filename, recursive=args.recursive, namespace=session.namespace,
        explicit_namespace=session.explicit_namespace, require_name=require_name))


async def run_apply(session: Session, args: argparse.Namespace) -> int:
    manifests = load(session, args)
    failed = False
    applied = []
    suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(args.dry_run, "")
    for manifest in manifests:
        label = display_name(manifest.info, manifest.name)
        try:
            if args.dry_run != "none":
                result = await _dry_run(session, manifest, server=args.dry_run == "server")
            else:
                result = await apply_one(session, manifest)
        except ApiError as err:
            report(err, session.server)
            failed = True
            continue
        if args.output in ("json", "yaml", "name"):
            applied.append(await session.get(manifest.info, manifest.name, manifest.namespace))
        else:
            write(f"{label} {result}{suffix}\n")
    if applied:
        print_objects(applied, args.output, single=len(applied) == 1)
    if failed:
        raise ReportedFailure()
    return 0


async def _dry_run(session: Session, manifest: Manifest, server: bool) -> str:
    """What apply would do; with `server`, the apiserver also validates (nothing is saved either way)."""
    info = manifest.info
    try:
        live = await session.get(info, manifest.name, manifest.namespace)
    except NotFound:
        if server:
            await session.client.create_raw(info.resource, annotate(manifest.body), manifest.namespace or None,
                                            dry_run=True)
        return "created"
    changed, merged = needs_update(live, manifest.body)
    if not changed:
        return "unchanged"
    if server:
        await session.client.update_raw(info.resource, merged, manifest.namespace or None, dry_run=True)
    return "configured"


async def create_from_files(session: Session, args: argparse.Namespace) -> int:
    """`kctl create -f`: like apply, but an existing object is an AlreadyExists error."""
    manifests = load(session, args, require_name=False)
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
