"""`kctl set image|env|resources`: change the containers of pods and workload templates."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl import podspec
from kubectl.errors import CliError
from kubectl.mutate import add_selection_flags, add_write_flags, change_each, select
from kubectl.session import Obj, Session

EXAMPLES = """\
Examples:
  # Set the image of the deployment's nginx container
  kctl set image deployment/nginx nginx=nginx:1.27

  # Set the image of every container of every deployment
  kctl set image deployments --all '*=nginx:1.27'

  # Set and remove environment variables
  kctl set env deployment/web STORAGE_DIR=/local DEBUG-

  # Set requests and limits of the deployment's containers
  kctl set resources deployment web -c=nginx --limits=cpu=200m,memory=512Mi --requests=cpu=100m
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("set", parents=parents, help="set image, env or resources of workloads",
                       description="kctl set image|env|resources ...", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=None)
    kinds = p.add_subparsers(dest="set_what", metavar="image|env|resources", parser_class=type(p))
    image = kinds.add_parser("image", parents=parents, help="update the image of containers",
                             description="kctl set image KIND NAME CONTAINER=IMAGE ...", epilog=EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    image.add_argument("words", nargs="+", metavar="KIND NAME CONTAINER=IMAGE")
    env = kinds.add_parser("env", parents=parents, help="update environment variables of containers",
                           description="kctl set env KIND NAME KEY=VALUE ... KEY- ...", epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    env.add_argument("words", nargs="+", metavar="KIND NAME KEY=VALUE")
    env.add_argument("-c", "--containers", default="*", help="the containers to change (name or *)")
    res = kinds.add_parser("resources", parents=parents, help="update requests/limits of containers",
                           description="kctl set resources KIND NAME [--limits=...] [--requests=...]",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    res.add_argument("words", nargs="+", metavar="KIND NAME")
    res.add_argument("-c", "--containers", default="*", help="the containers to change (name or *)")
    res.add_argument("--limits", default="", help="e.g. cpu=200m,memory=512Mi")
    res.add_argument("--requests", default="", help="e.g. cpu=100m,memory=256Mi")
    for sp in (image, env, res):
        add_selection_flags(sp, "change")
        add_write_flags(sp)
        sp.set_defaults(func=run)


def _pairs(words: list[str], what: str) -> tuple[list[str], dict[str, str], list[str]]:
    """Split `KIND NAME A=B C-` into the object words, the assignments and the removals."""
    first = next((i for i, w in enumerate(words) if "=" in w or (i > 0 and w.endswith("-"))), len(words))
    objects, rest = words[:first], words[first:]
    assigned: dict[str, str] = {}
    removed: list[str] = []
    for word in rest:
        key, sep, value = word.partition("=")
        if sep and key:
            assigned[key] = value
        elif word.endswith("-") and len(word) > 1:
            removed.append(word[:-1])
        else:
            raise CliError(f"invalid {what} {word!r}: expected NAME=VALUE")
    if not objects:
        raise CliError("one or more resources must be specified as <resource> <name> or <resource>/<name>")
    return objects, assigned, removed


def _resource_list(text: str, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise CliError(f"invalid {flag} {part!r}: expected NAME=QUANTITY, e.g. cpu=200m")
        out[key] = value
    return out


def set_images(obj: Obj, images: dict[str, str]) -> Obj:
    for name, image in images.items():
        found = podspec.containers(obj, name)
        if not found:
            raise CliError(f'unable to find container named "{name}"')
        for container in found:
            container["image"] = image
    return obj


def set_env(obj: Obj, container: str, assigned: dict[str, str], removed: list[str]) -> Obj:
    found = podspec.containers(obj, container)
    if not found:
        raise CliError(f'unable to find container named "{container}"')
    for c in found:
        env = [e for e in c.get("env") or [] if isinstance(e, dict) and e.get("name") not in removed]
        for key, value in assigned.items():
            existing = next((e for e in env if e.get("name") == key), None)
            if existing is None:
                env.append({"name": key, "value": value})
            else:
                existing.clear()
                existing.update({"name": key, "value": value})
        if env:
            c["env"] = env
        else:
            c.pop("env", None)
    return obj


def set_resources(obj: Obj, container: str, limits: dict[str, str], requests: dict[str, str]) -> Obj:
    found = podspec.containers(obj, container, init=False)
    if not found:
        raise CliError(f'unable to find container named "{container}"')
    for c in found:
        resources = c.setdefault("resources", {})
        for section, values in (("limits", limits), ("requests", requests)):
            if values:
                resources[section] = {**(resources.get(section) or {}), **values}
    return obj


async def run(session: Session, args: argparse.Namespace) -> int:
    what = args.set_what
    if what == "image":
        objects, images, removed = _pairs(args.words, "image")
        if removed or not images:
            raise CliError("at least one image update is required, as CONTAINER=IMAGE")
        chosen = await select(session, objects, args.selector, args.all)
        return await change_each(session, chosen, lambda o: set_images(o, images), "image updated", args)
    if what == "env":
        objects, assigned, removed = _pairs(args.words, "environment variable")
        if not assigned and not removed:
            raise CliError("at least one environment variable is required, as KEY=VALUE or KEY-")
        chosen = await select(session, objects, args.selector, args.all)
        return await change_each(session, chosen, lambda o: set_env(o, args.containers, assigned, removed),
                                 "env updated", args)
    limits = _resource_list(args.limits, "--limits")
    requests = _resource_list(args.requests, "--requests")
    if not limits and not requests:
        raise CliError("you must specify an update to requests or limits (in the form of --requests/--limits)")
    objects, _, _ = _pairs(args.words, "resource")
    chosen = await select(session, objects, args.selector, args.all)
    return await change_each(session, chosen, lambda o: set_resources(o, args.containers, limits, requests),
                             "resource requirements updated", args)
