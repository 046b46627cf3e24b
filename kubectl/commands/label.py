"""`kctl label KIND NAME key=value key-`: add, change or remove labels on existing objects."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl import keyvalues
from kubectl.mutate import Selected, add_selection_flags, add_write_flags, change_each, select
from kubectl.output import write
from kubectl.session import Session

EXAMPLES = """\
Examples:
  # Add the label unhealthy=true to pod foo
  kctl label pods foo unhealthy=true

  # Change an existing label (refused without --overwrite)
  kctl label --overwrite pods foo status=unhealthy

  # Label every pod in the namespace
  kctl label pods --all status=unhealthy

  # Label the pods matching a selector
  kctl label pods -l app=web tier=frontend

  # Remove the label named bar
  kctl label pods foo bar-

  # List the labels of pod foo
  kctl label pods foo --list
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    add_keyvalue_parser(sub, parents, "label", "labels", EXAMPLES)


def add_keyvalue_parser(sub: Any, parents: list[argparse.ArgumentParser], verb: str, section: str,
                        examples: str) -> None:
    """The parser of `label` or `annotate` (same flags, a different metadata map)."""
    p = sub.add_parser(verb, parents=parents, help=f"update the {section} on resources",
                       description=f"kctl {verb} KIND NAME|KIND/NAME KEY=VALUE... KEY-...: "
                                   f"update the {section} on resources.",
                       epilog=examples, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="+", metavar="KIND NAME KEY=VALUE")
    p.add_argument("--overwrite", action="store_true", help=f"allow changing the value of existing {section}")
    p.add_argument("--list", action="store_true", help=f"print the {section} of the objects (changes nothing)")
    add_selection_flags(p, verb)
    add_write_flags(p)
    p.set_defaults(func=run, section=section)


async def run(session: Session, args: argparse.Namespace) -> int:
    section = args.section
    if args.list:
        return await list_each(session, await select(session, args.words, args.selector, args.all), section)
    objects, wanted = keyvalues.split_words(args.words)
    chosen = await select(session, objects, args.selector, args.all)
    return await change_each(
        session, chosen, lambda obj: keyvalues.apply_to(obj, section, wanted, args.overwrite),
        lambda before, after: keyvalues.verb_for(section, before, after), args)


async def list_each(session: Session, chosen: list[Selected], section: str) -> int:
    """`--list`: `KEY=VALUE` lines; with several objects each under kubectl's `Listing ... for` header."""
    out: list[str] = []
    for item in chosen:
        obj = await session.get(item.info, item.name)
        values = (obj.get("metadata") or {}).get(section) or {}
        indent = ""
        if len(chosen) > 1:
            indent = " "
            out.append(f"Listing {section} for {item.info.kind}.{item.info.api_version.rpartition('/')[2]}/"
                       f"{item.name}:")
        out += [f"{indent}{key}={values[key]}" for key in sorted(values)]
    write("".join(line + "\n" for line in out))
    return 0
