"""The build context: which files COPY/ADD may read, honouring `.dockerignore`.

Why resolve sources here, in one place: the safety rule (nothing outside the
context, not even through a symlink or `..`) and the user-facing errors (a
missing source named relative to the context) must hold for every COPY/ADD.
`.dockerignore` follows Docker's rules: one pattern a line, `#` comments,
`*`/`?`/`[...]` within a path segment, `**` across segments, `!` re-includes,
the last matching line wins, and an excluded directory excludes its contents.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

GLOB_CHARS = frozenset("*?[")


class ContextError(ValueError):
    """A COPY/ADD source the context cannot provide; the caller adds file and line."""


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out[-1] = "(?:.*/)?"
                i += 1
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def parse_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per pattern, in file order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:].strip() if negate else line
        line = posixpath.normpath(line.lstrip("/")) if line.strip("/") else "."
        if line == ".":
            line = "**"
        rules.append((negate, _pattern_regex(line)))
    return rules


def ignored(rules: list[tuple[bool, re.Pattern[str]]], rel: str) -> bool:
    result = False
    for negate, rx in rules:
        if rx.fullmatch(rel):
            result = not negate
    return result


def _glob_regex(pattern: str) -> re.Pattern[str]:
    rx = _pattern_regex(pattern).pattern.removesuffix("(?:/.*)?")
    return re.compile(rx)


class BuildContext:
    """A context directory and its non-ignored paths (relative, `/`-separated)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ContextError(f"build context {root} is not a directory")
        self.root = root.resolve()
        ignore = self.root / ".dockerignore"
        self.rules = parse_dockerignore(ignore.read_text(errors="replace")) if ignore.is_file() else []
        self.paths: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in [*dirnames, *filenames]:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not ignored(self.rules, rel):
                    self.paths.add(rel)

    def _inside(self, rel: str, shown: str) -> Path:
        path = self.root / rel
        resolved = path.resolve()
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise ContextError(f"{shown}: resolves outside the build context ({self.root})")
        return path

    def sources(self, pattern: str) -> list[tuple[str, Path]]:
        """(relative path, path on disk) for a COPY/ADD source as written (after variables)."""
        rel = posixpath.normpath(pattern.lstrip("/")) if pattern.strip("/") else "."
        if rel == ".." or rel.startswith("../"):
            raise ContextError(f"{pattern}: is outside the build context (forbidden path)")
        if any(ch in rel for ch in GLOB_CHARS):
            rx = _glob_regex(rel)
            found = sorted(p for p in self.paths if rx.fullmatch(p))
            if not found:
                raise ContextError(f"{pattern}: no files in the build context match")
            return [(p, self._inside(p, p)) for p in found]
        if rel != "." and rel not in self.paths:
            why = "excluded by .dockerignore" if (self.root / rel).exists() else "not found"
            raise ContextError(f"{rel}: {why} in the build context ({self.root})")
        return [(rel, self._inside(rel, rel))]

    def keep_under(self, rel: str) -> set[str]:
        """The non-ignored paths below directory `rel`, relative to it."""
        if rel == ".":
            return set(self.paths)
        prefix = rel + "/"
        return {p[len(prefix):] for p in self.paths if p.startswith(prefix)}
