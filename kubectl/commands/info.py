"""`kctl version` and `kctl api-resources`: what this client is and which kinds it knows."""

from __future__ import annotations

import argparse
from typing import Any

import kubelite.api.registry
from kubectl import __version__, printers
from kubectl.output import to_json, to_yaml, write
from kubectl.session import Session


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    v = sub.add_parser("version", parents=parents, help="print the client version and the server address")
    v.add_argument("--client", action="store_true", help="only the client version (no server contact)")
    v.add_argument("-o", "--output", default="", help="json|yaml")
    v.set_defaults(func=run_version)
    r = sub.add_parser("api-resources", parents=parents, help="list the kinds the cluster serves")
    r.add_argument("-o", "--output", default="", help="wide|name")
    r.add_argument("--namespaced", type=lambda s: s.lower() == "true", default=None,
                   help="only namespaced (true) or cluster-scoped (false) kinds")
    r.add_argument("--no-headers", action="store_true")
    r.set_defaults(func=run_api_resources)


async def run_version(session: Session, args: argparse.Namespace) -> int:
    info: dict[str, Any] = {"clientVersion": {"gitVersion": f"v{__version__}", "program": "kctl"}}
    if not args.client:
        # What `GET /version` answers (real kubectl shows the same), over gRPC.
        server = (await session.client.read_unstored("version", "", "server"))[0]
        info["serverVersion"] = server
        info["serverAddress"] = session.server
    if args.output == "json":
        write(to_json(info) + "\n")
    elif args.output == "yaml":
        write(to_yaml(info))
    else:
        write(f"Client Version: v{__version__}\n")
        if not args.client:
            write(f"Server Version: {info['serverVersion'].get('gitVersion', '?')} (at {session.server})\n")
    return 0


async def run_api_resources(session: Session, args: argparse.Namespace) -> int:
    kinds = [k for k in kubelite.api.registry.all_kinds() if args.namespaced is None or k.namespaced == args.namespaced]
    kinds.sort(key=lambda k: (k.group, k.resource))
    if args.output == "name":
        write("".join(f"{k.qualified_resource}\n" for k in kinds))
        return 0
    header = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = [[k.resource, ",".join(k.short_names), k.api_version, str(k.namespaced).lower(), k.kind] for k in kinds]
    text, _ = printers.render(None if args.no_headers else header, rows)
    write(text + "\n")
    return 0
