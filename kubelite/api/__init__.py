"""kubelite's resource models: Kubernetes-shaped kinds, plus the rules around them.

`from kubelite.api import Pod, Deployment, ...` gives pydantic v2 models whose attributes
are snake_case and whose JSON (`to_dict()` / `from_dict()`) is Kubernetes'
camelCase. Submodules: `registry` (kinds and names), `errors` (Status-shaped
exceptions), `selectors`, `quantity`, `defaults`, `validation`, `podutil`.
"""

from typing import TYPE_CHECKING

from kubelite.api.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from kubelite.api.models import *  # noqa: F403  # the names a type checker sees; loaded on first use

__getattr__ = lazy_getattr(__name__, "kubelite.api.models")
