"""Sending one generated object: `--dry-run`, `-o`, and kubectl's `<kind>/<name> <verb>` line.

Why shared: `create KIND`, `run` and `expose` build an object from flags and then do the
same thing with it; validation happens locally first so a bad flag names its field.
"""

from __future__ import annotations

from kubectl.errors import CliError
from kubectl.manifests import check_document
from kubectl.output import check_format, is_structured, print_objects, write
from kubectl.resources import display_name
from kubectl.session import Obj, Session, with_type
from kubelite.api.errors import StatusCause


async def send(session: Session, body: Obj, output: str, dry_run: str, verb: str = "created",
               announce: bool = True) -> Obj:
    """Validate, then create (or only print on a client dry run); prints the result (unless not
    `announce`: `run --attach` prints only the pod's output, so a pipe gets just that)."""
    check_format(output)
    info, causes = check_document(body)
    if info is None or causes:
        raise CliError(str(causes[0]) if causes else "invalid object",
                       [f"error: {StatusCause(c.field, c.message)}" for c in causes])
    name = str((body.get("metadata") or {}).get("name", ""))
    if dry_run == "client":
        created = with_type(info, body)
    elif dry_run == "server":
        created = with_type(info, await session.client.create_raw(info.resource, body, session.ns(info) or None,
                                                                  dry_run=True))
    else:
        created = await session.create(info, body)
    if is_structured(output):
        print_objects([created], output, single=True)
    elif announce:
        suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")
        write(f"{display_name(info, name)} {verb}{suffix}\n")
    return created
