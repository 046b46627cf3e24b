"""Build context rules: .dockerignore patterns, sources inside the context only."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.build.context import BuildContext, ContextError, ignored, parse_dockerignore


@pytest.mark.parametrize(("patterns", "path", "want"), [
    ("*.md", "README.md", True),
    ("*.md", "docs/a.md", False),  # * stays within one segment
    ("**/*.md", "docs/a.md", True),
    ("docs", "docs/deep/file", True),  # an excluded directory excludes its contents
    ("*.md\n!README.md", "README.md", False),  # exceptions re-include; last match wins
    ("!README.md\n*.md", "README.md", True),
    ("/build", "build/x", True),
    ("tmp?", "tmp1", True),
    ("[ab].txt", "c.txt", False),
    ("# comment\n\n", "x", False),
])
def test_dockerignore(patterns: str, path: str, want: bool) -> None:
    assert ignored(parse_dockerignore(patterns), path) is want


def test_sources(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("a")
    (tmp_path / "src" / "b.py").write_text("b")
    (tmp_path / "notes.md").write_text("n")
    (tmp_path / ".dockerignore").write_text("*.md\n")
    ctx = BuildContext(tmp_path)
    assert [rel for rel, _ in ctx.sources("src/*.py")] == ["src/a.py", "src/b.py"]
    assert [rel for rel, _ in ctx.sources("/src/../src/a.py")] == ["src/a.py"]
    assert ctx.keep_under("src") == {"a.py", "b.py"}
    with pytest.raises(ContextError, match="notes.md: excluded by .dockerignore"):
        ctx.sources("notes.md")
    with pytest.raises(ContextError, match="nope.txt: not found in the build context"):
        ctx.sources("nope.txt")
    with pytest.raises(ContextError, match="outside the build context"):
        ctx.sources("../etc/passwd")
    with pytest.raises(ContextError, match="no files in the build context match"):
        ctx.sources("*.rs")
