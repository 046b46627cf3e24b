"""Turning what the user typed (`po`, `deploy/web`, `svc,deploy`) into kinds and names.

Why here and not in each command: every command accepts the same spellings as
kubectl (short names, plurals, `deployment.apps`, `KIND/NAME`), and prints
objects the same way (`deployment.apps/web`, `deployment.apps "web" deleted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import kubelite.api.registry
from kubectl.errors import CliError
from kubelite.api.registry import KindInfo

# `kctl get all`: the everyday workload kinds, like kubectl's "all" category.
ALL_CATEGORY = ["pods", "services", "deployments", "replicasets"]


def resolve_kind(text: str) -> KindInfo:
    """KindInfo for a kind, plural, singular, short name or `resource.group`; CliError if unknown."""
    info = kubelite.api.registry.find(text)
    if info is None:
        raise CliError(f'the server doesn\'t have a resource type "{text}"')
    return info


def kind_label(info: KindInfo) -> str:
    """`deployment.apps` for grouped kinds, `pod` for core ones."""
    return f"{info.kind.lower()}.{info.group}" if info.group else info.kind.lower()


def display_name(info: KindInfo, name: str) -> str:
    """`deployment.apps/web`, `pod/x`: how apply/scale/`-o name` print an object."""
    return f"{kind_label(info)}/{name}"


def quoted_name(info: KindInfo, name: str) -> str:
    """`deployment.apps "web"`: how delete prints an object."""
    return f'{kind_label(info)} "{name}"'


@dataclass
class Target:
    """One kind and the names asked for (empty = all objects of the kind)."""

    info: KindInfo
    names: list[str] = field(default_factory=list)


def _expand_kinds(text: str) -> list[KindInfo]:
    infos: list[KindInfo] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "all":
            infos.extend(resolve_kind(k) for k in ALL_CATEGORY)
        else:
            infos.append(resolve_kind(part))
    if not infos:
        raise CliError("you must specify the type of resource")
    unique: list[KindInfo] = []
    for info in infos:
        if all(info.resource != u.resource for u in unique):
            unique.append(info)
    return unique


def parse_targets(args: list[str]) -> list[Target]:
    """`KIND[,KIND] [NAME...]` or `KIND/NAME [KIND/NAME...]` into targets, like kubectl."""
    if not args:
        raise CliError("you must specify the type of resource to get. Use \"kctl api-resources\" for a "
                       "complete list of supported resources")
    if any("/" in a for a in args):
        if not all("/" in a for a in args):
            raise CliError("there is no need to specify a resource type as a separate argument when "
                           "passing arguments in resource/name form (e.g. 'kctl get resource/<resource_name>' "
                           "instead of 'kctl get resource resource/<resource_name>'")
        targets: list[Target] = []
        for arg in args:
            kind, _, name = arg.partition("/")
            if not kind or not name:
                raise CliError(f"arguments in resource/name form must have a single resource and name: {arg!r}")
            info = resolve_kind(kind)
            existing = next((t for t in targets if t.info.resource == info.resource), None)
            if existing is None:
                targets.append(Target(info, [name]))
            elif name not in existing.names:
                existing.names.append(name)
        return targets
    infos = _expand_kinds(args[0])
    names = args[1:]
    if names and len(infos) > 1:
        raise CliError("you may only specify a single resource type when naming objects")
    return [Target(info, list(dict.fromkeys(names))) for info in infos]


def parse_single(args: list[str], command: str) -> tuple[KindInfo, str]:
    """`KIND NAME` or `KIND/NAME` for commands acting on one object (scale, describe NAME)."""
    if len(args) == 1 and "/" in args[0]:
        kind, _, name = args[0].partition("/")
        if kind and name:
            return resolve_kind(kind), name
    if len(args) == 2 and "/" not in args[0]:
        return resolve_kind(args[0]), args[1]
    raise CliError(f"{command} needs a resource and a name, as `KIND NAME` or `KIND/NAME`")
