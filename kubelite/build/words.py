"""Dockerfile word processing: quotes, the escape character and `$VAR` substitution.

Why one lexer for all of it: Docker expands variables and removes quotes in a
single pass (a `$` inside single quotes stays literal, one inside double quotes
expands, an escaped one stays), so doing them in separate passes gives the wrong
answer on exactly the lines users write to be careful. Pure functions, so the
behaviour Docker documents is table-tested without a build.
"""

from __future__ import annotations

from collections.abc import Mapping

NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


class WordError(ValueError):
    """Bad quoting or substitution syntax; the caller adds the file and line."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, split: bool) -> None:
        self.text, self.env, self.escape, self.split = text, env, escape, split
        self.pos = 0
        self.words: list[str] = []
        self.cur: list[str] = []
        self.started = False  # a word exists even when empty ("" is a word)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _flush(self) -> None:
        if self.started:
            self.words.append("".join(self.cur))
        self.cur, self.started = [], False

    def _add(self, s: str) -> None:
        self.cur.append(s)
        self.started = True

    def _add_unquoted_value(self, value: str) -> None:
        """An unquoted expansion is split on whitespace in word mode (as Docker does for EXPOSE $PORTS)."""
        if not self.split:
            self._add(value)
            return
        for i, part in enumerate(value.split(" ") if value else [""]):
            if i:
                self._flush()
            if part:
                self._add(part)

    def run(self) -> list[str]:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            self.pos += 1
            if self.split and ch in " \t\n":
                self._flush()
            elif ch == self.escape:
                if self.pos < len(self.text):
                    self._add(self.text[self.pos])
                    self.pos += 1
                else:
                    self._add(ch)
            elif ch == "'":
                self._single()
            elif ch == '"':
                self._double()
            elif ch == "$":
                self._add_unquoted_value(self._dollar())
            else:
                self._add(ch)
        self._flush()
        return self.words

    def _single(self) -> None:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise WordError("unterminated single quote")
        self._add(self.text[self.pos:end])
        self.pos = end + 1

    def _double(self) -> None:
        self.started = True
        while True:
            if self.pos >= len(self.text):
                raise WordError("unterminated double quote")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == '"':
                return
            if ch == self.escape and self.pos < len(self.text) and self.text[self.pos] in ('"', "$", self.escape):
                self._add(self.text[self.pos])
                self.pos += 1
            elif ch == "$":
                self._add(self._dollar())
            else:
                self._add(ch)

    def _dollar(self) -> str:
        """Called after `$`: the substituted value (or a literal `$`)."""
        ch = self._peek()
        if ch == "{":
            self.pos += 1
            return self._braced()
        start = self.pos
        while self._peek() and self._peek() in NAME_CHARS:
            self.pos += 1
        if start == self.pos:
            return "$"
        return self.env.get(self.text[start:self.pos], "")

    def _braced(self) -> str:
        start = self.pos
        while self._peek() and self._peek() in NAME_CHARS:
            self.pos += 1
        name = self.text[start:self.pos]
        if not name:
            raise WordError("bad substitution: ${} needs a variable name")
        ch = self._peek()
        if ch == "}":
            self.pos += 1
            return self.env.get(name, "")
        modifier = ch
        self.pos += 1
        if modifier == ":":
            modifier += self._peek()
            self.pos += 1
        if modifier not in (":-", ":+", "-", "+", ":?", "?"):
            raise WordError(f"bad substitution: unsupported modifier {modifier!r} in ${{{name}...}}")
        word = self._word_until_brace()
        value = self.env.get(name)
        is_set = value is not None
        non_empty = bool(value)
        use_word = {":-": not non_empty, "-": not is_set}.get(modifier)
        if use_word is not None:
            return word if use_word else (value or "")
        if modifier in (":+", "+"):
            return word if (non_empty if modifier == ":+" else is_set) else ""
        if (modifier == ":?" and not non_empty) or (modifier == "?" and not is_set):
            raise WordError(f"{name}: {word or 'is not set'}")
        return value or ""

    def _word_until_brace(self) -> str:
        """The `word` of ${VAR:-word}: itself expanded, quotes removed, up to the matching `}`."""
        depth, start = 0, self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == self.escape:
                self.pos += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    inner = self.text[start:self.pos]
                    self.pos += 1
                    return expand(inner, self.env, self.escape)
                depth -= 1
            self.pos += 1
        raise WordError("bad substitution: missing '}'")


def expand(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word: variables substituted, quotes and escapes removed, whitespace kept."""
    words = _Lexer(text, env, escape, split=False).run()
    return words[0] if words else ""


def split_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Whitespace-separated words, each processed like `expand` (quoted spaces stay inside a word)."""
    return _Lexer(text, env, escape, split=True).run()


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Words without substitution (`$` kept literally): for parse-time shape checks."""
    return [w for w in _RawLexer(text, escape).run()]


class _RawLexer(_Lexer):
    def __init__(self, text: str, escape: str) -> None:
        super().__init__(text, {}, escape, split=True)

    def _dollar(self) -> str:
        return "$"
