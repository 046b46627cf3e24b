"""`kubelite build` flags: bad values are clear errors, never tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.build import cli
from kubelite.build.builder import BuildError


def test_output_and_build_args() -> None:
    assert cli.parse_output("type=oci,dest=out.tar") == Path("out.tar").resolve()
    with pytest.raises(BuildError, match="only type=oci,dest=FILE.tar"):
        cli.parse_output("type=docker")
    assert cli.parse_build_args(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(BuildError, match="--build-arg NOEQ: expected KEY=VALUE"):
        cli.parse_build_args(["NOEQ"])


async def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nFORM x\n")
    code = await cli.run([str(tmp_path), "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path / "c")])
    assert code == 1
    assert capsys.readouterr().err == "error: Dockerfile:2: unknown instruction: FORM\n"


async def test_scratch_build_without_registry_writes_an_archive(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n')
    (tmp_path / "hello.txt").write_text("hi\n")
    out = tmp_path / "img.tar"
    code = await cli.run([str(tmp_path), "-t", "hello:1", "--data-dir", str(tmp_path / "none"),
                          "--cache-dir", str(tmp_path / "c"), "--output", f"type=oci,dest={out}"])
    assert code == 0 and out.is_file()
