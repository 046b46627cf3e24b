"""`kctl diff -f FILE`: what `apply` would change, as a unified diff of YAML; exit 1 when different.

The "after" side is the apiserver's dry-run result (defaults, validation), so the diff shows
what the cluster would really hold. Exit codes follow kubectl: 0 same, 1 different, >1 error.
"""

from __future__ import annotations

import argparse
import copy
import difflib
from typing import Any

from kubectl.commands.apply import add_file_flags, dry_run_one, load
from kubectl.errors import CliError, format_api_error
from kubectl.output import to_yaml, warn, write
from kubectl.session import Obj, Session
from kubelite.api.errors import ApiError

ERROR_EXIT = 2
EXAMPLES = """\
Examples:
  # Diff the resources in pod.json against the cluster
  kctl diff -f pod.json

  # Diff a file read from stdin
  cat service.yaml | kctl diff -f -

  # Use the exit code in scripts: 0 no differences, 1 differences, 2 error
  kctl diff -f app/ -R || echo "changes pending"
"""
VOLATILE = ("resourceVersion", "generation", "managedFields")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diff", parents=parents, help="diff the live objects against would-be applied ones",
                       description="kctl diff -f FILE: show what `kctl apply -f FILE` would change.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_file_flags(p, "diff", required=False)
    p.add_argument("-k", "--kustomize", default="", metavar="DIR", help="diff the kustomization in DIR")
    p.set_defaults(func=run)


def _comparable(obj: Obj | None) -> str:
    if obj is None:
        return ""
    shown = copy.deepcopy(obj)
    meta = shown.get("metadata") or {}
    for key in VOLATILE:
        meta.pop(key, None)
    return to_yaml(shown)


def unified(path: str, live: Obj | None, merged: Obj) -> str:
    """The diff of one object, headed by kubectl-like LIVE/MERGED paths; "" when equal."""
    before, after = _comparable(live), _comparable(merged)
    if before == after:
        return ""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"LIVE/{path}", tofile=f"MERGED/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


async def run(session: Session, args: argparse.Namespace) -> int:
    try:
        manifests = load(session, args, verb="")
    except CliError as err:
        for line in err.lines:
            warn(line)
        return ERROR_EXIT
    different = False
    failed = False
    for manifest in manifests:
        try:
            _, live, merged = await dry_run_one(session, manifest, server=True)
        except ApiError as err:
            warn(format_api_error(err))
            failed = True
            continue
        info = manifest.info
        version = info.api_version.replace("/", ".")
        path = f"{version}.{info.kind}.{manifest.namespace + '.' if manifest.namespace else ''}{manifest.name}"
        text = unified(path, live, merged)
        if text:
            different = True
            write(text)
    if failed:
        return ERROR_EXIT
    return 1 if different else 0
