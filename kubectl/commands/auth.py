"""`kctl auth can-i VERB RESOURCE [NAME]` and `kctl auth whoami`, answered by the apiserver.

Why API calls and not local guesses: only the apiserver knows the caller's
identity (token, certificate, impersonation) and the cluster's policy, so
kctl sends a SelfSubjectAccessReview / SelfSubjectReview -- the objects
kubectl sends -- and prints the server's answer. `can-i` exits 0 for yes and 1
for no, like kubectl, so scripts can branch on it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import kubelite.api.registry
from kubectl.errors import CliError
from kubectl.output import to_json, to_yaml, write
from kubectl.session import Session
from kubelite.api.rbac import SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate",
         "bind", "escalate", "use", "*")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("auth", parents=parents, help="inspect authorization (can-i, whoami)")
    verbs = p.add_subparsers(dest="auth_command", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    can = verbs.add_parser("can-i", parents=parents, help="check whether an action is allowed",
                           description="kctl auth can-i VERB RESOURCE[/NAME] [NAME] | kctl auth can-i VERB /PATH")
    can.add_argument("verb", metavar="VERB")
    can.add_argument("target", metavar="RESOURCE|/PATH")
    can.add_argument("name", metavar="NAME", nargs="?", default="")
    can.add_argument("-A", "--all-namespaces", action="store_true", help="ask about all namespaces")
    can.add_argument("--subresource", default="", help="a subresource, e.g. status or log")
    can.add_argument("-q", "--quiet", action="store_true", help="print nothing; the exit code answers")
    can.set_defaults(func=run_can_i)
    who = verbs.add_parser("whoami", parents=parents, help="print who the server thinks you are")
    who.add_argument("-o", "--output", default="", help="json|yaml")
    who.set_defaults(func=run_whoami)


def _resource_attributes(session: Session, args: argparse.Namespace) -> dict[str, Any]:
    target, name = args.target, args.name
    if "/" in target:
        target, _, from_target = target.partition("/")
        if name and from_target:
            raise CliError("a name is given twice (RESOURCE/NAME and NAME)")
        name = name or from_target
    info = kubelite.api.registry.find(target)
    if info is not None:
        resource, group, namespaced = info.resource, info.group, info.namespaced
    else:
        # Not a kind kctl knows: ask anyway ("resource.group"), as kubectl does after a warning.
        resource, _, group = target.partition(".")
        namespaced = True
        sys.stderr.write(f"Warning: the server doesn't have a resource type '{target}'\n")
    namespace = "" if args.all_namespaces or not namespaced else session.namespace
    attrs = {"verb": args.verb, "resource": resource, "group": group, "namespace": namespace,
             "subresource": args.subresource, "name": name}
    return {k: v for k, v in attrs.items() if v}


async def run_can_i(session: Session, args: argparse.Namespace) -> int:
    if args.verb not in VERBS:
        sys.stderr.write(f"Warning: verb '{args.verb}' is not a known verb\n")
    spec: dict[str, Any]
    if args.target.startswith("/"):
        if args.name:
            raise CliError("a non-resource URL takes no NAME")
        spec = {"nonResourceAttributes": {"verb": args.verb, "path": args.target}}
    else:
        spec = {"resourceAttributes": _resource_attributes(session, args)}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
    answer = await session.client.create_review(SELF_SUBJECT_ACCESS_REVIEWS, review)
    status = answer.get("status") or {}
    allowed = bool(status.get("allowed"))
    if not args.quiet:
        reason = status.get("reason")
        write("yes\n" if allowed else ("no - " + str(reason) + "\n" if reason else "no\n"))
    return 0 if allowed else 1


async def run_whoami(session: Session, args: argparse.Namespace) -> int:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    answer = await session.client.create_review(SELF_SUBJECT_REVIEWS, review)
    if args.output == "json":
        write(to_json(answer) + "\n")
        return 0
    if args.output == "yaml":
        write(to_yaml(answer))
        return 0
    if args.output:
        raise CliError(f"unable to match a printer suitable for the output format {args.output!r}")
    info = (answer.get("status") or {}).get("userInfo") or {}
    rows = [("ATTRIBUTE", "VALUE"), ("Username", str(info.get("username", "")))]
    if info.get("uid"):
        rows.append(("UID", str(info["uid"])))
    rows.append(("Groups", "[" + " ".join(info.get("groups") or []) + "]"))
    for key, values in sorted((info.get("extra") or {}).items()):
        rows.append((f"Extra: {key}", "[" + " ".join(values) + "]"))
    width = max(len(r[0]) for r in rows) + 3
    write("".join(f"{a.ljust(width)}{v}\n" for a, v in rows))
    return 0
