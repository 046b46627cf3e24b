"""Parse a Dockerfile into stages of instructions (pure: text in, structure out).

Why parse everything up front: a typo on line 30 should fail the build before
line 3's slow RUN, naming the file and line (`Dockerfile:30: unknown
instruction: FORM`). Variables are *not* substituted here: their values depend
on ENV/ARG state while the stage runs, so the builder expands each instruction
with `words.expand`/`split_words` when it reaches it.

Covered (Docker's documented behaviour): parser directives (`# escape=`,
`# syntax=` ignored), line continuations (comment and blank lines inside them
dropped), JSON (exec) vs shell form, heredocs on RUN, ARGs before the first
FROM (usable in FROM lines only, re-declared in a stage to use them there),
`FROM ... AS name`, COPY/ADD flags. Refused with a clear error rather than half
honoured: `--platform`, `RUN --mount/--network/--security`, `COPY --link/--parents`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from kubelite.build.words import WordError, split_raw

INSTRUCTIONS = frozenset({
    "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "EXPOSE", "LABEL", "VOLUME", "CMD",
    "ENTRYPOINT", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD", "MAINTAINER",
})
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset(),
    "RUN": frozenset(),
    "COPY": frozenset({"from", "chown", "chmod"}),
    "ADD": frozenset({"chown", "chmod"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
REFUSED_FLAGS = {
    "platform": "--platform is not supported: kubelite builds for the host platform only",
    "mount": "RUN --mount is not supported by kubelite build",
    "network": "RUN --network is not supported; use `kubelite build --network host`",
    "security": "RUN --security is not supported by kubelite build",
    "link": "--link is not supported by kubelite build",
    "parents": "--parents is not supported by kubelite build",
    "checksum": "--checksum is not supported (ADD of URLs needs network)",
    "keep-git-dir": "--keep-git-dir is not supported (ADD of git URLs needs network)",
    "exclude": "--exclude is not supported by kubelite build",
}
DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


class DockerfileError(ValueError):
    """A Dockerfile the builder cannot use; the message starts with `FILE:LINE: `."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.reason = path, line, message


@dataclass(frozen=True)
class Instruction:
    """One instruction: `rest` is the text after the keyword and its flags, unexpanded."""

    keyword: str
    rest: str
    line: int
    flags: dict[str, str] = field(default_factory=dict)
    exec_form: list[str] | None = None  # the JSON array, when the instruction used one
    heredoc: str | None = None  # RUN <<EOF body (the text between the markers)
    original: str = ""  # the logical line as written, for history and messages

    def __str__(self) -> str:
        return self.original or f"{self.keyword} {self.rest}"


@dataclass
class Stage:
    index: int
    base: str  # the FROM image, unexpanded (may use meta ARGs)
    name: str  # `AS name`, lower-cased; "" when unnamed
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: str
    escape: str
    meta_args: list[Instruction]  # ARGs before the first FROM
    stages: list[Stage]

    def stage(self, target: str) -> Stage:
        """The stage `--target` names (by name or index)."""
        for s in self.stages:
            if s.name == target.lower() or str(s.index) == target:
                return s
        names = ", ".join(s.name or str(s.index) for s in self.stages)
        raise DockerfileError(self.path, 1, f"target stage {target!r} not found (stages: {names})")


def _directives(lines: list[str]) -> tuple[str, int]:
    """(escape character, index of the first line after the directives)."""
    escape, seen, i = "\\", set(), 0
    for i, line in enumerate(lines):  # noqa: B007 - i is used after the loop
        m = DIRECTIVE.match(line.strip()) if line.lstrip().startswith("#") else None
        if m is None:
            return escape, i
        key = m.group(1).lower()
        if key in seen:
            return escape, i  # a repeated directive is a comment, and ends the directives
        seen.add(key)
        if key == "escape":
            if m.group(2) not in ("\\", "`"):
                raise DockerfileError("", i + 1, f"invalid escape character {m.group(2)!r}: use \\ or `")
            escape = m.group(2)
    return escape, len(lines)


def _logical_lines(lines: list[str], start: int, escape: str) -> list[tuple[int, str, str | None]]:
    """(first line number, joined text, heredoc body) for each instruction."""
    out: list[tuple[int, str, str | None]] = []
    i = start
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        first, parts = i, []
        text = raw.rstrip()
        while text.endswith(escape):
            parts.append(text[:-1])
            text = ""
            while i < len(lines):
                nxt = lines[i]
                i += 1
                if nxt.strip() == "" or nxt.lstrip().startswith("#"):
                    continue
                text = nxt.rstrip()
                break
        parts.append(text)
        joined = "".join(parts).strip()
        body: str | None = None
        m = HEREDOC.search(joined)
        if m and joined.split(None, 1)[0].upper() in ("RUN", "COPY", "ADD"):
            body_lines: list[str] = []
            while True:
                if i >= len(lines):
                    raise DockerfileError("", first, f"heredoc {m.group(3)!r} is not terminated")
                nxt = lines[i]
                i += 1
                if (nxt.lstrip("\t") if m.group(1) else nxt).rstrip("\r") == m.group(3):
                    break
                body_lines.append(nxt.lstrip("\t") if m.group(1) else nxt)
            body = "".join(line + "\n" for line in body_lines)
        out.append((first, joined, body))
    return out


def _split_flags(keyword: str, rest: str, path: str, line: int) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, tail = rest.partition(" ")
        if word == "--":
            break
        name, eq, value = word[2:].partition("=")
        if name in REFUSED_FLAGS:
            raise DockerfileError(path, line, f"{keyword}: {REFUSED_FLAGS[name]}")
        if name not in FLAGS.get(keyword, frozenset()):
            raise DockerfileError(path, line, f"{keyword}: unknown flag --{name}")
        if not eq or not value:
            raise DockerfileError(path, line, f"{keyword}: --{name} needs a value (--{name}=VALUE)")
        flags[name] = value
        rest = tail.lstrip()
    return flags, rest


def json_form(rest: str) -> list[str] | None:
    """The JSON array form, or None for shell form (Docker falls back to shell form on bad JSON)."""
    if not rest.startswith("["):
        return None
    try:
        doc = json.loads(rest)
    except ValueError:
        return None
    if isinstance(doc, list) and all(isinstance(x, str) for x in doc):
        return list(doc)
    return None


def _check(ins: Instruction, path: str, escape: str) -> None:
    """Shape checks that do not need variable values."""
    k, rest = ins.keyword, ins.rest

    def fail(msg: str) -> None:
        raise DockerfileError(path, ins.line, f"{k}: {msg}")

    try:
        words = split_raw(rest, escape) if ins.exec_form is None else ins.exec_form
    except WordError as exc:
        raise DockerfileError(path, ins.line, f"{k}: {exc}") from None
    if k in ("RUN", "CMD", "ENTRYPOINT") and not rest and ins.heredoc is None and k == "RUN":
        fail("needs a command")
    if k == "SHELL" and (ins.exec_form is None or not ins.exec_form):
        fail('requires the JSON form, e.g. SHELL ["/bin/sh", "-c"]')
    if k in ("COPY", "ADD"):
        if ins.heredoc is not None:
            fail("heredocs are not supported on COPY/ADD; use RUN <<EOF instead")
        if len(words) < 2:
            fail("requires at least two arguments: a source and a destination")
    if k in ("ENV", "LABEL") and not words:
        fail("requires at least one KEY=VALUE")
    if k == "LABEL" and any("=" not in w for w in words):
        fail("requires KEY=VALUE pairs")
    if k == "ARG" and (not words or any(not w.split("=", 1)[0] for w in words)):
        fail("requires a name: ARG NAME[=default]")
    if k in ("WORKDIR", "USER", "STOPSIGNAL") and len(words) != 1:
        fail("requires exactly one argument")
    if k in ("EXPOSE", "VOLUME") and not words:
        fail("requires at least one argument")
    if k == "HEALTHCHECK":
        head = words[0].upper() if words else ""
        if head not in ("NONE", "CMD") or (head == "NONE" and len(words) != 1) or (head == "CMD" and len(words) < 2):
            fail("expects NONE or [OPTIONS] CMD command")
    if k == "ONBUILD":
        trigger = words[0].upper() if words else ""
        if trigger in ("ONBUILD", "FROM", "MAINTAINER", ""):
            fail(f"{trigger or 'a trigger instruction'} is not allowed as an ONBUILD trigger")


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile `text`; raises DockerfileError naming `path` and the line."""
    lines = text.splitlines()
    try:
        escape, start = _directives(lines)
    except DockerfileError as exc:
        raise DockerfileError(path, exc.line, exc.reason) from None
    meta: list[Instruction] = []
    stages: list[Stage] = []
    try:
        logical = _logical_lines(lines, start, escape)
    except DockerfileError as exc:
        raise DockerfileError(path, exc.line, exc.reason) from None
    for line_no, joined, body in logical:
        word, _, rest = joined.partition(" ") if " " in joined else joined.partition("\t")
        keyword = word.upper()
        if keyword not in INSTRUCTIONS:
            raise DockerfileError(path, line_no, f"unknown instruction: {word}")
        flags, rest = _split_flags(keyword, rest.strip(), path, line_no)
        exec_form = json_form(rest) if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD",
                                                    "VOLUME") else None
        ins = Instruction(keyword, rest, line_no, flags, exec_form, body, joined)
        _check(ins, path, escape)
        if keyword == "FROM":
            stage = _stage(ins, len(stages), path, escape)
            if stage.name and any(s.name == stage.name for s in stages):
                raise DockerfileError(path, line_no, f"FROM: duplicate stage name {stage.name!r}")
            stages.append(stage)
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(path, line_no, f"{keyword} before the first FROM: only ARG may come first")
            meta.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError(path, max(1, len(lines)), "no FROM instruction: a Dockerfile must start a stage")
    return Dockerfile(path, escape, meta, stages)


def _stage(ins: Instruction, index: int, path: str, escape: str) -> Stage:
    words = split_raw(ins.rest, escape)
    if len(words) == 1:
        return Stage(index, words[0], "", ins.line)
    if len(words) == 3 and words[1].upper() == "AS":
        name = words[2].lower()
        if not re.fullmatch(r"[a-z][a-z0-9._-]*", name):
            raise DockerfileError(path, ins.line, f"FROM: invalid stage name {words[2]!r}")
        return Stage(index, words[0], name, ins.line)
    raise DockerfileError(path, ins.line, "FROM: expects `FROM IMAGE [AS NAME]`")
