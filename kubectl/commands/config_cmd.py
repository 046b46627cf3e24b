"""`kctl config get-contexts|current-context|use-context|set-context|view`: kctl's own config file.

Why local: these commands read and rewrite `$KUBELITE_CONFIG` (or ~/.kubelite/config) and must
work when no cluster is up; `kubectl.main` runs them without connecting to an apiserver.
The file keeps kctl's shape (`current-context:` + `contexts: {NAME: {server, namespace, ...}}`).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import yaml

from kubectl import printers
from kubectl.config import ConfigError, config_path
from kubectl.errors import CliError
from kubectl.output import to_yaml, write

EXAMPLES = """\
Examples:
  # List the contexts; the current one is marked with *
  kctl config get-contexts

  # Show and switch the current context
  kctl config current-context
  kctl config use-context kubelite-dev

  # Make every command of the current context default to namespace dev
  kctl config set-context --current --namespace=dev

  # Show the config file, secrets redacted (--raw shows them)
  kctl config view --minify
"""
SECRET_KEYS = ("token",)


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("config", parents=parents, help="show and change kctl's contexts",
                       description="kctl config get-contexts|current-context|use-context NAME|"
                                   "set-context [NAME|--current] [--namespace NS] [--server S]|view",
                       epilog=EXAMPLES, formatter_class=fmt)
    p.set_defaults(func=None)
    verbs = p.add_subparsers(dest="config_verb", metavar="VERB", parser_class=type(p))
    for name, help_text in (("get-contexts", "list the contexts"), ("current-context", "print the current context"),
                            ("use-context", "select the current context"),
                            ("set-context", "create or change a context"), ("view", "print the config file")):
        sp = verbs.add_parser(name, parents=parents, help=help_text, description=help_text, epilog=EXAMPLES,
                              formatter_class=fmt)
        sp.set_defaults(func=None, local_func=run)
        if name == "use-context":
            sp.add_argument("context")
        if name == "get-contexts":
            sp.add_argument("context", nargs="?", default="")
            sp.add_argument("-o", "--output", default="", choices=["", "name"])
            sp.add_argument("--no-headers", action="store_true")
        if name == "set-context":
            sp.add_argument("context", nargs="?", default="")
            sp.add_argument("--current", action="store_true", help="change the current context")
            sp.add_argument("--cluster-server", dest="context_server", default=None, metavar="HOST:PORT",
                            help="the apiserver of the context")
        if name == "view":
            sp.add_argument("--minify", action="store_true", help="only the current context")
            sp.add_argument("--raw", action="store_true", help="show tokens instead of REDACTED")
            sp.add_argument("-o", "--output", default="yaml", choices=["yaml", "json"])


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping")
    return data


def _contexts(data: dict[str, Any]) -> dict[str, Any]:
    contexts = data.get("contexts") or {}
    if not isinstance(contexts, dict):
        raise ConfigError("`contexts` in the config file must be a mapping of NAME: {server: ...}")
    return contexts


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    path = config_path()
    data = _read(path)
    contexts = _contexts(data)
    current = str(data.get("current-context") or "")
    verb = args.config_verb
    if verb == "current-context":
        if not current:
            raise CliError("current-context is not set")
        write(current + "\n")
    elif verb == "use-context":
        if args.context not in contexts:
            raise CliError(f'no context exists with the name: "{args.context}"')
        data["current-context"] = args.context
        _write(path, data)
        write(f'Switched to context "{args.context}".\n')
    elif verb == "get-contexts":
        names = [n for n in contexts if not args.context or n == args.context]
        if args.context and not names:
            raise CliError(f'context {args.context} not found')
        if args.output == "name":
            write("".join(n + "\n" for n in names))
            return 0
        rows = [["*" if n == current else "", n, str((contexts[n] or {}).get("server", "")),
                 str((contexts[n] or {}).get("namespace", ""))] for n in names]
        text, _ = printers.render(None if args.no_headers else ["CURRENT", "NAME", "SERVER", "NAMESPACE"], rows)
        write(text + "\n")
    elif verb == "set-context":
        return _set_context(args, path, data, contexts, current)
    elif verb == "view":
        shown = copy.deepcopy(data)
        if args.minify:
            shown = {"current-context": current, "contexts": {current: contexts.get(current) or {}}} if current \
                else {k: v for k, v in shown.items() if k != "contexts"}
        if not args.raw:
            _redact(shown)
        if args.output == "json":
            write(json.dumps(shown, indent=4) + "\n")
        else:
            write(to_yaml(shown))
    return 0


def _set_context(args: argparse.Namespace, path: Path, data: dict[str, Any], contexts: dict[str, Any],
                 current: str) -> int:
    if args.current == bool(args.context):
        raise CliError("give either a context NAME or --current")
    name = current if args.current else args.context
    if args.current and not name:
        raise CliError("current-context is not set")
    existed = name in contexts
    entry = dict(contexts.get(name) or {})
    if args.namespace is not None:
        entry["namespace"] = args.namespace
    if args.context_server is not None:
        entry["server"] = args.context_server
    contexts[name] = entry
    data["contexts"] = contexts
    _write(path, data)
    write(f'Context "{name}" {"modified" if existed else "created"}.\n')
    return 0


def _redact(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS and item:
                value[key] = "REDACTED"
            else:
                _redact(item)
