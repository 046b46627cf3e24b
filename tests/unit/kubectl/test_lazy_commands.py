"""kctl imports only the module of the command it runs; the table saying which module adds which
command must match what the modules register, and a run must parse as with every command loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubectl import main
from kubectl.errors import CliError


def registered_words(module_name: str) -> set[str]:
    parser = main.Parser(prog="kctl")
    sub = parser.add_subparsers(parser_class=main.Parser)
    (module,) = [m for m in main.command_modules() if m.__name__ == f"kubectl.commands.{module_name}"]
    module.add_parser(sub, [main._global_flags(suppress=True)])
    return set(sub.choices)


@pytest.mark.parametrize("module_name", list(main.COMMANDS))
def test_each_module_adds_exactly_the_commands_the_table_gives_it(module_name: str) -> None:
    assert registered_words(module_name) == set(main.COMMANDS[module_name])


@pytest.mark.parametrize("line, word", [
    ("get pods -A", "get"),
    ("-n kube-system get svc kube-dns", "get"),
    ("--server 1.2.3.4:5 --as-group g --as u cordon node-1", "cordon"),
    ("--context x api-resources", "api-resources"),
    ("-n get pods", "pods"),  # -n takes `get` as its value, as the full parser does
    ("exec web -- get pods", "exec"),
    ("--version", None),
    ("", None),
])
def test_command_word_is_what_the_full_parser_runs(line: str, word: str | None) -> None:
    assert main.command_word(line.split()) == word


@pytest.mark.parametrize("line", ["get pods -A -o wide", "-n x get svc web", "cordon n1", "version --client"])
def test_the_parser_of_one_command_parses_as_the_full_one(line: str) -> None:
    words = line.split()
    narrow = vars(main.build_parser(main.command_word(words)).parse_args(words))
    full = vars(main.build_parser().parse_args(words))
    narrow.pop("func", None), full.pop("func", None)
    assert narrow == full


def test_a_mistyped_command_is_reported_with_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["gett", "pods"]) == 1
    err = capsys.readouterr().err
    assert "invalid choice: 'gett'" in err and "'port-forward'" in err


def test_get_starts_without_the_other_commands_or_any_model_class() -> None:
    code = ("import sys, kubectl.main as m\n"
            "m.build_parser(m.command_word(['get', 'pods', '-A']))\n"
            "import kubectl.commands.get\n"
            "loaded = sorted(n for n in sys.modules if n.startswith('kubectl.commands.'))\n"
            "assert loaded == ['kubectl.commands.get'], loaded\n"
            "assert 'pydantic' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unparsable_global_flags_leave_the_choice_to_the_full_parser() -> None:
    with pytest.raises(CliError):
        main.build_parser().parse_args(["--request-timeout"])
    assert main.command_word(["--request-timeout"]) is None
