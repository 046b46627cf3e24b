"""Every kctl command's `--help` ends with kubectl-style examples that start with `kctl`."""

from __future__ import annotations

from kubectl.examples import subparsers
from kubectl.main import build_parser


def test_every_command_has_examples() -> None:
    commands = subparsers(build_parser())
    assert len(commands) > 40
    missing = [path for path, p in commands if "Examples:" not in p.format_help()]
    assert missing == []
    for path, p in commands:
        examples = p.format_help().split("Examples:", 1)[1]
        assert "  kctl " in examples, path
