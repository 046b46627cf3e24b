"""Config-only instructions produce the image config Docker would write."""

from __future__ import annotations

import pytest

from kubelite.build.dockerfile import parse
from kubelite.build.state import StageState, StepFailure, apply_config, declare_args, workdir_path


def _apply(lines: str, state: StageState | None = None, build_args: dict[str, str] | None = None,
           meta: dict[str, str] | None = None) -> StageState:
    df = parse("FROM scratch\n" + lines)
    state = state or StageState()
    for ins in df.stages[0].instructions:
        if ins.keyword == "ARG":
            declare_args(ins, state, build_args or {}, meta or {}, df.escape, set())
        elif ins.keyword == "WORKDIR":
            state.config["WorkingDir"] = workdir_path(ins, state, df.escape)
        else:
            apply_config(ins, state, df.escape)
    return state


def test_env_forms_and_substitution_uses_values_before_the_instruction() -> None:
    s = _apply('ENV A=1\nENV A=2 B=$A C="x y"\nENV LEGACY hello world\n')
    assert s.env() == {"PATH": s.env()["PATH"], "A": "2", "B": "1", "C": "x y", "LEGACY": "hello world"}


def test_arg_scoping_and_precedence() -> None:
    s = _apply("ARG V\nARG W=dflt\nARG X=dflt\nENV W=fromenv\nLABEL v=$V w=$W x=$X\n",
               build_args={"X": "cli"}, meta={"V": "meta"})
    assert s.config["Labels"] == {"v": "meta", "w": "fromenv", "x": "cli"}
    assert "X=cli" in s.run_env() and "W=fromenv" in s.run_env()
    assert all(not e.startswith("X=") for e in s.config["Env"])  # ARGs are not persisted


def test_cmd_entrypoint_shell_forms() -> None:
    s = _apply('SHELL ["/bin/bash", "-c"]\nCMD echo $HOME\nENTRYPOINT ["/init"]\n')
    assert s.config["Cmd"] == ["/bin/bash", "-c", "echo $HOME"] and s.config["Entrypoint"] == ["/init"]
    base = StageState(config={"Env": [], "Cmd": ["sh"]})
    s = _apply('ENTRYPOINT ["top"]\n', base)
    assert "Cmd" not in s.config  # an ENTRYPOINT resets the base image's CMD


def test_ports_volumes_signal_healthcheck_workdir() -> None:
    s = _apply('ARG P=80\nEXPOSE $P 53/udp 8000-8001\nVOLUME ["/data"] \nSTOPSIGNAL SIGINT\n'
               'HEALTHCHECK --interval=1m30s --retries=3 CMD wget -q localhost\n'
               "WORKDIR /a\nWORKDIR b/../c\nONBUILD RUN echo later\n")
    assert s.config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert s.config["Volumes"] == {"/data": {}} and s.config["StopSignal"] == "SIGINT"
    assert s.config["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 90_000_000_000,
                                       "Retries": 3}
    assert s.config["WorkingDir"] == "/a/c" and s.config["OnBuild"] == ["RUN echo later"]


@pytest.mark.parametrize(("line", "error"), [
    ("EXPOSE 99999\n", "invalid port"),
    ("EXPOSE http\n", "invalid port"),
    ("STOPSIGNAL 'bad sig'\n", "invalid signal"),
    ("HEALTHCHECK --interval=soon CMD true\n", "not a duration"),
])
def test_bad_values(line: str, error: str) -> None:
    with pytest.raises(StepFailure, match=error):
        _apply(line)
