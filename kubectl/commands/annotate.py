"""`kctl annotate KIND NAME key=value key-`: add, change or remove annotations on existing objects."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.commands.label import add_keyvalue_parser

EXAMPLES = """\
Examples:
  # Annotate pod foo with description='my frontend'
  kctl annotate pods foo description='my frontend'

  # Change an existing annotation (refused without --overwrite)
  kctl annotate --overwrite pods foo description='my frontend running nginx'

  # Annotate every pod in the namespace
  kctl annotate pods --all description='my frontend'

  # Remove the annotation named description
  kctl annotate pods foo description-
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    add_keyvalue_parser(sub, parents, "annotate", "annotations", EXAMPLES)
