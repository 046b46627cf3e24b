"""`kctl api-versions`: the group/versions the apiserver serves, one per line (`apps/v1`, `v1`)."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.output import write
from kubelite.api import hpaconvert
from kubelite.api.registry import all_kinds

EXAMPLES = """\
Examples:
  # Print the supported API versions
  kctl api-versions
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("api-versions", parents=parents, help="print the supported API versions",
                       description="Print the supported API versions, as group/version.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=None, local_func=run)


def versions() -> list[str]:
    return sorted({info.api_version for info in all_kinds()} | {hpaconvert.V1})  # v1 is served by conversion


def run(args: argparse.Namespace) -> int:
    write("".join(v + "\n" for v in versions()))
    return 0
