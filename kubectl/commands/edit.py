"""`kctl edit KIND NAME`: open the live object in `$KUBE_EDITOR`/`$EDITOR`, then save what changed.

Like kubectl: comment lines are ignored, an empty or unchanged file cancels ("Edit cancelled,
no changes made."), and an edit the server (or YAML) rejects re-opens the user's text with
the errors at the top; saving it unchanged again gives up with exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kubectl.errors import CliError, ReportedFailure, format_api_error
from kubectl.mutate import Selected, select
from kubectl.output import to_yaml, warn, write
from kubectl.resources import display_name
from kubectl.session import Obj, Session
from kubelite.api.errors import BadRequest, Conflict, Invalid

EXAMPLES = """\
Examples:
  # Edit the service named registry
  kctl edit svc/registry

  # Use an alternative editor
  KUBE_EDITOR="nano" kctl edit deployment web

  # Edit a deployment in another namespace
  kctl edit deploy/web -n staging
"""
HEADER = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
          "# and an empty file will abort the edit. If an error occurs while saving this file will be\n"
          "# reopened with the relevant failures.\n#\n")
CANCELLED = "Edit cancelled, no changes made."


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("edit", parents=parents, help="edit a resource in your editor",
                       description="kctl edit KIND NAME|KIND/NAME: edit with $KUBE_EDITOR, $EDITOR or vi.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resources", nargs="+", metavar="KIND NAME")
    p.set_defaults(func=run)


def editor_command() -> list[str]:
    text = os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CliError(f"cannot parse the editor command {text!r}: {exc}") from None
    return words or ["vi"]


def _open_editor(path: Path) -> None:
    command = [*editor_command(), str(path)]
    try:
        code = subprocess.call(command)
    except OSError as exc:
        raise CliError(f"cannot run the editor {command[0]!r}: {exc.strerror or exc} "
                       "(set KUBE_EDITOR or EDITOR)") from None
    if code != 0:
        raise CliError(f"there was a problem with the editor {command[0]!r} (exit status {code})")


def strip_comments(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))


def error_header(label: str, errors: list[str]) -> str:
    lines = [f'# {label} was not valid:'] + [f"# * {e}" for line in errors for e in line.splitlines()[:1]] + \
        [f"#   {more}" for line in errors for more in line.splitlines()[1:]]
    return HEADER + "\n".join(lines) + "\n#\n"


async def run(session: Session, args: argparse.Namespace) -> int:
    chosen = await select(session, args.resources)
    failed = False
    for item in chosen:
        failed |= not await _edit_one(session, item)
    if failed:
        raise ReportedFailure()
    return 0


async def _edit_one(session: Session, item: Selected) -> bool:
    """Edit one object; False when the edit failed (already reported)."""
    original = await session.get(item.info, item.name)
    label = f'{item.info.kind.lower()}s "{item.name}"'
    body = to_yaml(original)
    header = HEADER
    previous: str | None = None
    with tempfile.TemporaryDirectory(prefix="kctl-edit-") as tmp:
        path = Path(tmp) / f"{item.info.resource}-{item.name}.yaml"
        while True:
            path.write_text(header + body)
            await asyncio.to_thread(_open_editor, path)
            edited = strip_comments(path.read_text())
            if not edited.strip():
                warn(CANCELLED)
                return True
            if previous is not None and edited == previous:
                saved = Path(tempfile.mkstemp(prefix="kctl-edit-", suffix=".yaml")[1])
                saved.write_text(edited)
                warn(f"error: Edit cancelled, no valid changes were saved.\nA copy of your changes has been "
                     f"stored to \"{saved}\"")
                return False
            previous = edited
            try:
                obj = _parse(edited)
            except CliError as err:
                header, body = error_header(label, [str(err)]), edited
                continue
            if obj == original:
                warn(CANCELLED)
                return True
            changed = [f for f, a, b in (("kind", obj.get("kind"), original.get("kind")),
                                         ("metadata.name", (obj.get("metadata") or {}).get("name"), item.name))
                       if a != b]
            if changed:
                header, body = error_header(label, [f"{changed[0]} should not be changed"]), edited
                continue
            try:
                await session.update(item.info, obj)
            except (Invalid, BadRequest, Conflict) as err:  # the edit's fault: let the user fix it
                header, body = error_header(label, [format_api_error(err)]), edited
                continue
            write(f"{display_name(item.info, item.name)} edited\n")
            return True


def _parse(text: str) -> Obj:
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"the edited file is not valid YAML: {exc}") from None
    if not isinstance(obj, dict):
        raise CliError("the edited file must hold one object (a mapping)")
    return obj
