"""`key=value` / `key-` arguments of `label` and `annotate`, applied to a metadata map.

Why pure and shared: both commands take the same spellings, refuse to change an existing
value without `--overwrite` with kubectl's message, and say `labeled`/`unlabeled`/`not labeled`
from what actually changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl.errors import CliError
from kubectl.session import Obj


@dataclass
class KeyValues:
    """What the user asked: keys to set (in order) and keys to remove."""

    set: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)


def split_words(words: list[str]) -> tuple[list[str], KeyValues]:
    """`pods web app=x tier-` -> (["pods", "web"], the changes); changes come after the objects."""
    # Object names never end in "-" (DNS labels), so a later word ending in "-" is a removal.
    first = next((i for i, w in enumerate(words) if "=" in w or (i > 0 and w.endswith("-"))), len(words))
    objects, changes = words[:first], words[first:]
    wanted = KeyValues()
    for word in changes:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise CliError(f"invalid label spec: {word}")
            wanted.set[key] = value
        elif word.endswith("-") and len(word) > 1:
            wanted.remove.append(word[:-1])
        else:
            raise CliError(f"at least one label update is required; {word!r} is neither key=value nor key-")
    overlap = set(wanted.set) & set(wanted.remove)
    if overlap:
        raise CliError(f"can not both modify and remove the following label(s) in the same command: "
                       f"{', '.join(sorted(overlap))}")
    if not objects:
        raise CliError("one or more resources must be specified as <resource> <name> or <resource>/<name>")
    return objects, wanted


def apply_to(obj: Obj, section: str, wanted: KeyValues, overwrite: bool) -> Obj:
    """Set/remove keys in `metadata.<section>` (labels|annotations); CliError on a refused overwrite."""
    meta = obj.setdefault("metadata", {})
    current = dict(meta.get(section) or {})
    for key, value in wanted.set.items():
        if key in current and current[key] != value and not overwrite:
            raise CliError(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
        current[key] = value
    for key in wanted.remove:
        current.pop(key, None)
    meta[section] = current
    return obj


def verb_for(section: str, before: Obj, after: Obj) -> str:
    """`labeled`, `unlabeled` (only removals) or `not labeled` (nothing changed), like kubectl."""
    word = "labeled" if section == "labels" else "annotated"
    old = (before.get("metadata") or {}).get(section) or {}
    new = (after.get("metadata") or {}).get(section) or {}
    if old == new:
        return f"not {word}" if section == "labels" else word
    if section == "labels" and set(new) < set(old) and all(old[k] == new[k] for k in new):
        return "unlabeled"
    return word
