"""YAML decoding through libyaml when PyYAML was built with it.

Why: the pure-Python loader needs about 5 s for a 1 MB document, and the
apiserver decodes request bodies on its event loop -- one large YAML body
stalled every other request for seconds. libyaml's parser (CSafeLoader) does
the same safe load ~40x faster; where it is missing, the Python loader still
works. Deep flow nesting is refused before either runs
(`kubelite.api.limits.yaml_nesting_error`).
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The fastest safe loader available (subclass it to customise construction)."""


def safe_load(text: str | bytes) -> Any:
    """yaml.safe_load, through libyaml when available."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader)
