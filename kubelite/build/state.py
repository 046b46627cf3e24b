"""A stage's state while it builds, and the instructions that only change the image config.

Why pure and separate: ENV/ARG/LABEL/USER/EXPOSE/CMD/... are bookkeeping on the
OCI image config Docker writes (`Env`, `Cmd`, `Entrypoint`, `User`,
`WorkingDir`, `ExposedPorts`, `Labels`, `Volumes`, `StopSignal`, `Healthcheck`,
`Shell`, `OnBuild`), testable without runc; the filesystem steps live in stage.py.
"""

from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from kubelet.images.builder import DEFAULT_PATH, EPOCH
from kubelite.build.cache import Layer
from kubelite.build.dockerfile import Instruction, json_form
from kubelite.build.words import expand, split_words

DEFAULT_SHELL = ["/bin/sh", "-c"]
PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)
SIGNAL = re.compile(r"^(SIG)?[A-Z0-9+-]+$|^\d+$")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


class StepFailure(ValueError):
    """An instruction that cannot be applied; the builder prefixes the file and line."""


@dataclass
class StageState:
    layers: list[Layer] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=lambda: {"Env": [DEFAULT_PATH]})
    history: list[dict[str, Any]] = field(default_factory=list)
    key: str = ""
    args: dict[str, str] = field(default_factory=dict)  # ARGs in scope with a value
    cmd_set: bool = False  # CMD set in this stage (an ENTRYPOINT then keeps it)

    def fork(self) -> StageState:
        """A new stage FROM this one: same image, fresh ARG scope."""
        return StageState(list(self.layers), copy.deepcopy(self.config), list(self.history), self.key)

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out

    def subst(self) -> dict[str, str]:
        """Variables for substitution: ARGs in scope, ENV over them (Docker's precedence)."""
        return {**self.args, **self.env()}

    def run_env(self) -> list[str]:
        """The environment of a RUN: ENV, plus ARGs ENV does not override."""
        env = self.env()
        merged = {**{k: v for k, v in self.args.items() if k not in env}, **env}
        return [f"{k}={v}" for k, v in merged.items()]

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def record(self, created_by: str, empty: bool) -> None:
        entry: dict[str, Any] = {"created": EPOCH, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        self.history.append(entry)


def _set_env(state: StageState, key: str, value: str) -> None:
    env = [e for e in state.config.get("Env") or [] if str(e).partition("=")[0] != key]
    state.config["Env"] = [*env, f"{key}={value}"]


def _pairs(ins: Instruction, state: StageState, escape: str) -> list[tuple[str, str]]:
    words = split_words(ins.rest, state.subst(), escape)
    if ins.keyword == "ENV" and words and "=" not in words[0]:
        key, _, value = ins.rest.strip().partition(" ")
        return [(key, expand(value.strip(), state.subst(), escape))]  # legacy `ENV KEY value`
    out = []
    for w in words:
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise StepFailure(f"{ins.keyword}: expected KEY=VALUE, got {w!r}")
        out.append((k, v))
    return out


def _duration_ns(flag: str, text: str) -> int:
    pos, total = 0, 0.0
    for m in DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise StepFailure(f"HEALTHCHECK: --{flag}={text} is not a duration (e.g. 30s, 1m30s)")
    return int(total)


def _healthcheck(ins: Instruction, state: StageState, escape: str) -> dict[str, Any]:
    head, _, rest = ins.rest.strip().partition(" ")
    if head.upper() == "NONE":
        return {"Test": ["NONE"]}
    rest = rest.strip()
    argv = json_form(rest)
    hc: dict[str, Any] = {"Test": ["CMD", *argv] if argv is not None else ["CMD-SHELL", rest]}
    names = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
             "start-interval": "StartInterval"}
    for flag, value in ins.flags.items():
        if flag == "retries":
            if not value.isdigit():
                raise StepFailure(f"HEALTHCHECK: --retries={value} is not a number")
            hc["Retries"] = int(value)
        else:
            hc[names[flag]] = _duration_ns(flag, value)
    return hc


def apply_config(ins: Instruction, state: StageState, escape: str) -> None:
    """Apply a config-only instruction (everything but FROM/RUN/COPY/ADD/WORKDIR/ARG)."""
    k, cfg = ins.keyword, state.config
    if k == "ENV":
        for key, value in _pairs(ins, state, escape):
            _set_env(state, key, value)
    elif k == "LABEL":
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(_pairs(ins, state, escape))}
    elif k == "USER":
        cfg["User"] = expand(ins.rest, state.subst(), escape)
    elif k == "EXPOSE":
        ports = dict(cfg.get("ExposedPorts") or {})
        for word in split_words(ins.rest, state.subst(), escape):
            m = PORT.match(word)
            if m is None or not 0 < int(m.group(1)) < 65536:
                raise StepFailure(f"EXPOSE: invalid port {word!r} (PORT[/tcp|udp|sctp])")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            for port in range(lo, hi + 1):
                ports[f"{port}/{(m.group(3) or 'tcp').lower()}"] = {}
        cfg["ExposedPorts"] = ports
    elif k == "VOLUME":
        paths = ins.exec_form if ins.exec_form is not None else split_words(ins.rest, state.subst(), escape)
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{p: {} for p in paths if p}}
    elif k in ("CMD", "ENTRYPOINT"):
        argv = ins.exec_form if ins.exec_form is not None else [*state.shell(), ins.rest]
        if k == "CMD":
            cfg["Cmd"], state.cmd_set = argv, True
        else:
            cfg["Entrypoint"] = argv
            if not state.cmd_set:
                cfg.pop("Cmd", None)  # Docker: an ENTRYPOINT resets a CMD inherited from the base
    elif k == "SHELL":
        cfg["Shell"] = list(ins.exec_form or [])
    elif k == "STOPSIGNAL":
        sig = expand(ins.rest, state.subst(), escape)
        if not SIGNAL.match(sig):
            raise StepFailure(f"STOPSIGNAL: invalid signal {sig!r}")
        cfg["StopSignal"] = sig
    elif k == "HEALTHCHECK":
        cfg["Healthcheck"] = _healthcheck(ins, state, escape)
    elif k == "ONBUILD":
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.rest]
    elif k == "MAINTAINER":  # deprecated; kept where users look for it now, the `maintainer` label
        cfg["Labels"] = {**(cfg.get("Labels") or {}), "maintainer": ins.rest}
    else:
        raise StepFailure(f"{k}: not a config instruction")


def declare_args(ins: Instruction, state: StageState, build_args: dict[str, str], meta: dict[str, str],
                 escape: str, used: set[str]) -> None:
    """ARG NAME[=default]: a --build-arg wins, then the default, then (bare ARG) the meta ARG's value."""
    for word in split_words(ins.rest, state.subst(), escape):
        name, eq, default = word.partition("=")
        if name in build_args:
            state.args[name] = build_args[name]
            used.add(name)
        elif eq:
            state.args[name] = default
        elif name in meta:
            state.args[name] = meta[name]


def workdir_path(ins: Instruction, state: StageState, escape: str) -> str:
    path = expand(ins.rest, state.subst(), escape)
    base = str(state.config.get("WorkingDir") or "/")
    return posixpath.normpath(posixpath.join(base, path))
