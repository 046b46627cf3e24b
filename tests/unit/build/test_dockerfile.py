"""The Dockerfile parser and word expansion against Docker's documented behaviour."""

from __future__ import annotations

import pytest

from kubelite.build.dockerfile import DockerfileError, parse
from kubelite.build.words import WordError, expand, split_words

ENV = {"NAME": "web", "EMPTY": "", "PORTS": "80 443"}


@pytest.mark.parametrize(("text", "want"), [
    ("$NAME", "web"),
    ("${NAME}", "web"),
    ("${NAME}_x", "web_x"),
    ("$NAME_x", ""),  # the name is NAME_x, unset
    ("${UNSET:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${NAME:-dflt}", "web"),
    ("${NAME:+alt}", "alt"),
    ("${UNSET:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET:-${NAME}}", "web"),
    ("'$NAME'", "$NAME"),
    ('"$NAME"', "web"),
    ("\\$NAME", "$NAME"),
    ('"a \\"b\\" c"', 'a "b" c'),
    ("a\\ b", "a b"),
    ("$", "$"),
])
def test_expand(text: str, want: str) -> None:
    assert expand(text, ENV) == want


def test_split_words_keeps_quoted_spaces_and_splits_expansions() -> None:
    assert split_words('A="hello world" B=$NAME', ENV) == ["A=hello world", "B=web"]
    assert split_words("$PORTS 8080/udp", ENV) == ["80", "443", "8080/udp"]
    assert split_words('"$PORTS"', ENV) == ["80 443"]


def test_backtick_escape() -> None:
    assert expand("a`$NAME", ENV, escape="`") == "a$NAME"
    assert expand("C:\\dir", ENV, escape="`") == "C:\\dir"


@pytest.mark.parametrize("text", ["'open", '"open', "${}", "${NAME:%x}", "${UNSET:?must be set}"])
def test_bad_words(text: str) -> None:
    with pytest.raises(WordError):
        expand(text, ENV)


def test_continuations_comments_and_forms() -> None:
    df = parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=busybox\n"
        "FROM $BASE AS Build\n"
        "RUN echo a \\\n"
        "# a comment inside the continuation is dropped\n"
        "\n"
        "    && echo b\n"
        'CMD ["sh", "-c", "echo hi"]\n'
        "ENTRYPOINT echo shell form\n"
        "COPY --from=build --chown=1:2 a b /dst/\n"
    )
    assert [a.rest for a in df.meta_args] == ["BASE=busybox"]
    stage = df.stages[0]
    assert (stage.base, stage.name, stage.line) == ("$BASE", "build", 3)
    run, cmd, ep, copy = stage.instructions
    assert run.rest == "echo a     && echo b" and run.line == 4 and run.exec_form is None
    assert cmd.exec_form == ["sh", "-c", "echo hi"]
    assert ep.exec_form is None and ep.rest == "echo shell form"
    assert copy.flags == {"from": "build", "chown": "1:2"} and copy.rest == "a b /dst/"


def test_escape_directive_and_bad_json_falls_back_to_shell_form() -> None:
    df = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /w\nCMD [not json\n")
    run, cmd = df.stages[0].instructions
    assert df.escape == "`" and run.rest == "dir c:\\   /w"
    assert cmd.exec_form is None and cmd.rest == "[not json"


def test_directive_after_comment_is_a_comment() -> None:
    df = parse("# hello\n# escape=`\nFROM scratch\n")
    assert df.escape == "\\"


def test_heredoc_run() -> None:
    df = parse("FROM busybox\nRUN <<EOF\necho one\necho two\nEOF\nCMD [\"true\"]\n")
    run, cmd = df.stages[0].instructions
    assert run.heredoc == "echo one\necho two\n" and cmd.line == 6


def test_multi_stage_and_target() -> None:
    df = parse("FROM busybox AS a\nRUN true\nFROM scratch\nCOPY --from=a /x /x\n")
    assert [s.name for s in df.stages] == ["a", ""]
    assert df.stage("A").index == 0 and df.stage("1").index == 1
    with pytest.raises(DockerfileError, match="target stage 'nope' not found"):
        df.stage("nope")


@pytest.mark.parametrize(("text", "error"), [
    ("FROM busybox\n\n\n\n\n\nFORM x\n", "Dockerfile:7: unknown instruction: FORM"),
    ("RUN true\n", "Dockerfile:1: RUN before the first FROM"),
    ("", "no FROM instruction"),
    ("FROM --platform=linux/arm64 busybox\n", "Dockerfile:1: FROM: --platform is not supported"),
    ("FROM busybox\nRUN --mount=type=cache,target=/x true\n", "Dockerfile:2: RUN: RUN --mount is not supported"),
    ("FROM busybox\nCOPY onlyone\n", "Dockerfile:2: COPY: requires at least two arguments"),
    ("FROM busybox\nCOPY --bogus=1 a b\n", "Dockerfile:2: COPY: unknown flag --bogus"),
    ("FROM busybox\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL: requires the JSON form"),
    ("FROM busybox\nWORKDIR a b\n", "Dockerfile:2: WORKDIR: requires exactly one argument"),
    ("FROM busybox\nLABEL novalue\n", "Dockerfile:2: LABEL: requires KEY=VALUE pairs"),
    ("FROM busybox\nHEALTHCHECK echo\n", "Dockerfile:2: HEALTHCHECK: expects NONE or"),
    ("FROM busybox\nONBUILD FROM x\n", "Dockerfile:2: ONBUILD: FROM is not allowed"),
    ("FROM a b c d\n", "Dockerfile:1: FROM: expects"),
    ("FROM busybox AS a\nFROM busybox AS A\n", "Dockerfile:2: FROM: duplicate stage name 'a'"),
    ("FROM busybox\nRUN <<EOF\necho\n", "Dockerfile:2: heredoc 'EOF' is not terminated"),
    ("FROM busybox\nENV A='x\n", "Dockerfile:2: ENV: unterminated single quote"),
])
def test_errors_name_file_and_line(text: str, error: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(text, "Dockerfile")
    assert error in str(info.value)


def test_instruction_keywords_are_case_insensitive() -> None:
    df = parse("from busybox as b\nrun echo hi\n")
    assert df.stages[0].instructions[0].keyword == "RUN" and df.stages[0].name == "b"
