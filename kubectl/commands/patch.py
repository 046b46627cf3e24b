"""`kctl patch KIND NAME -p PATCH [--type strategic|merge|json]`: change fields of a live object.

The patch is applied with the apiserver's own functions (kubelite.api.patch) to a fresh
read and written back with its resourceVersion, so concurrent writers are never lost.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from kubectl.errors import CliError
from kubectl.mutate import add_write_flags, change_each, select
from kubectl.session import Obj, Session
from kubelite.api.errors import ApiError
from kubelite.api.patch import PATCH_TYPES, patch_for

EXAMPLES = """\
Examples:
  # Partially update a node using a strategic merge patch (JSON or YAML)
  kctl patch node k8s-node-1 -p '{"spec":{"unschedulable":true}}'

  # Update a container's image; spec.containers[*].name is required because it is a merge key
  kctl patch pod valid-pod -p '{"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}'

  # Replace a field with a JSON merge patch
  kctl patch deploy web --type merge -p '{"spec":{"replicas":3}}'

  # Update a container's image using a JSON patch with positional arrays
  kctl patch pod valid-pod --type=json -p='[{"op": "replace", "path": "/spec/containers/0/image", "value":"nginx:1.27"}]'

  # Read the patch from a file
  kctl patch deploy web --patch-file patch.yaml
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("patch", parents=parents, help="update fields of a resource",
                       description="kctl patch KIND NAME|KIND/NAME (-p PATCH | --patch-file FILE) "
                                   "[--type strategic|merge|json]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resources", nargs="+", metavar="KIND NAME")
    p.add_argument("-p", "--patch", default=None, help="the patch, as JSON or YAML")
    p.add_argument("--patch-file", default="", help="a file holding the patch (JSON or YAML)")
    p.add_argument("--type", default="strategic", choices=PATCH_TYPES, help="the kind of patch (default strategic)")
    add_write_flags(p)
    p.set_defaults(func=run)


def read_patch(text: str | None, path: str) -> Any:
    """The decoded patch body from `-p` or `--patch-file` (exactly one of them)."""
    if (text is None) == (not path):
        raise CliError("must specify exactly one of --patch (-p) or --patch-file")
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise CliError(f"cannot read --patch-file {path}: {exc.strerror or exc}") from None
    assert text is not None
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        try:
            body = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CliError(f"unable to parse the patch as JSON or YAML: {exc}") from None
    if body is None:
        raise CliError("the patch is empty")
    return body


async def run(session: Session, args: argparse.Namespace) -> int:
    body = read_patch(args.patch, args.patch_file)
    try:
        apply = patch_for(args.type, body)
    except ApiError as exc:
        raise CliError(exc.message) from None
    chosen = await select(session, args.resources)

    def verb(before: Obj, after: Obj) -> str:
        return "patched" if before != after else "patched (no change)"

    return await change_each(session, chosen, apply, verb, args)
