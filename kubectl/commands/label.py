"""`kctl label KIND NAME key=value key-`: add, change or remove labels on existing objects."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl import keyvalues
from kubectl.mutate import add_selection_flags, add_write_flags, change_each, select
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
    add_selection_flags(p, verb)
    add_write_flags(p)
    p.set_defaults(func=run, section=section)


async def run(session: Session, args: argparse.Namespace) -> int:
    objects, wanted = keyvalues.split_words(args.words)
    section = args.section
    chosen = await select(session, objects, args.selector, args.all)
    return await change_each(
        session, chosen, lambda obj: keyvalues.apply_to(obj, section, wanted, args.overwrite),
        lambda before, after: keyvalues.verb_for(section, before, after), args)
