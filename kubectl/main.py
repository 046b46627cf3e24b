"""`kctl`: entry point, global flags, and the one place errors become messages and exit codes.

Why all error handling lives here: every command raises (`ApiError` from the
server, `CliError` for user mistakes, `KeyboardInterrupt` on Ctrl-C) and this
module turns each into kubectl's wording and exit status, so no path can leak a
traceback to the user.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any, NoReturn

import grpc

from kubectl import __version__, examples
from kubectl.config import (
    ConfigError,
    config_path,
    load_config,
    resolve_namespace,
    resolve_server,
    resolve_token,
)
from kubectl.errors import CliError, ReportedFailure, format_api_error, is_unreachable, unreachable_message
from kubectl.session import Session
from kubelite.api.durations import duration
from kubelite.api.errors import ApiError
from kubelite.api.registry import KindInfo
from kubelite.client.api_client import ApiClient
from kubelite.client.customkinds import forget, learn_custom_kinds
from kubelite.client.tls import ClientTLSError

Command = Callable[[Session, argparse.Namespace], Awaitable[int]]
DEFAULT_REQUEST_TIMEOUT = 30.0
LEARN_TIMEOUT = 5.0  # asking for the CRDs must not double the wait for a server that does not answer
# Module of kubectl.commands -> the command words its `add_parser` adds, in `kctl --help` order.
# A run imports only the module of its command: importing all of them (and what they import:
# models, YAML, crypto helpers) was ~0.3 s of every `kctl get` (bench/README.md).
# tests/unit/kubectl/test_lazy_commands.py checks the words against what each module registers.
COMMANDS: dict[str, tuple[str, ...]] = {
    "get": ("get",), "describe": ("describe",), "apply": ("apply",), "create": ("create",),
    "delete": ("delete",), "logs": ("logs",), "exec": ("exec",), "scale": ("scale",),
    "autoscale": ("autoscale",), "rollout": ("rollout",), "nodes": ("cordon", "uncordon", "drain"),
    "info": ("version", "api-resources"), "auth": ("auth",), "label": ("label",), "annotate": ("annotate",),
    "patch": ("patch",), "set": ("set",), "run": ("run",), "expose": ("expose",), "wait": ("wait",),
    "diff": ("diff",), "config_cmd": ("config",), "explain": ("explain",), "apiversions": ("api-versions",),
    "edit": ("edit",), "cp": ("cp",), "certificate": ("certificate",), "portforward": ("port-forward",),
    "top": ("top",),
}


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as `error: ...` + exit 1 (via CliError), like kubectl,
    and lets flags sit between positional words (`kctl get svc -n kube-system kube-dns`)."""

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        # Plain argparse stops filling `KIND NAME...` at the first flag and rejects the words
        # after it; the intermixed parse collects them, but it cannot drive sub-commands or a
        # trailing `-- COMMAND`, so those parsers keep the plain parse.
        if self._intermixing or any(a.nargs in (argparse.PARSER, argparse.REMAINDER) for a in self._actions):
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def error(self, message: str) -> NoReturn:
        raise CliError(message, [f"error: {message}", f"See '{self.prog} --help' for usage."])


def _global_flags(suppress: bool) -> argparse.ArgumentParser:
    """Flags accepted before or after the command (`kctl -n x get po` and `kctl get po -n x`)."""
    default: Any = argparse.SUPPRESS if suppress else None
    p = Parser(add_help=False)
    p.add_argument("--server", "-s", default=default, help="apiserver HOST:PORT (else $KUBELITE_SERVER, "
                   "the config file, 127.0.0.1:6443)")
    p.add_argument("-n", "--namespace", default=default, help="namespace (default: default)")
    p.add_argument("--context", default=default, help="use this context of the config file instead of its "
                   "current-context (`kctl config get-contexts` lists them)")
    p.add_argument("--request-timeout", type=duration, default=default,
                   help="seconds to wait for each API call (e.g. 5, 5s, 1m; 0 = forever; default 30)")
    p.add_argument("--token", default=default, help="bearer token (else $KUBELITE_TOKEN, the config file's token:)")
    p.add_argument("--as", dest="as_user", default=default, help="act as this user (needs `impersonate` on users)")
    p.add_argument("--as-group", dest="as_groups", action="append", default=argparse.SUPPRESS if suppress else [],
                   help="act as a member of this group (repeatable; needs --as)")
    return p


def command_modules(command: str | None = None) -> list[ModuleType]:
    """Every command module, or only the one adding `command` (all if no module adds it)."""
    names = [m for m, words in COMMANDS.items() if command in words] or list(COMMANDS)
    return [importlib.import_module(f"kubectl.commands.{name}") for name in names]


def command_word(args_list: Sequence[str]) -> str | None:
    """The command a command line runs (`get` in `kctl -n x get po`), found with the global flags'
    own parser; None when there is none or the line does not parse (the full parser says why)."""
    sniff = Parser(add_help=False, parents=[_global_flags(suppress=True)])
    sniff.add_argument("command", nargs="?")
    cut = list(args_list).index("--") if "--" in args_list else len(args_list)
    try:
        found, _ = sniff.parse_known_args(list(args_list[:cut]))
    except CliError:
        return None
    return found.command if isinstance(found.command, str) else None


def build_parser(command: str | None = None) -> Parser:
    """The parser of every command, or of `command` alone when a module adds it (faster start-up)."""
    parser = Parser(prog="kctl", parents=[_global_flags(suppress=False)],
                    description="kctl controls a kubelite cluster, like kubectl controls Kubernetes.")
    parser.add_argument("--version", action="version", version=f"kctl v{__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parents = [_global_flags(suppress=True)]
    for module in command_modules(command):
        module.add_parser(sub, parents)
    examples.attach(parser)
    return parser


async def _run(func: Command, args: argparse.Namespace, server: str, namespace: str, token: str = "",
               credentials: grpc.ChannelCredentials | None = None) -> int:
    timeout = DEFAULT_REQUEST_TIMEOUT if args.request_timeout is None else args.request_timeout
    if args.as_groups and not args.as_user:
        raise CliError("--as-group requires --as", ["error: requesting groups or user-extra without a user "
                                                   "(--as-group needs --as)"])
    client = ApiClient.connect(server, timeout=timeout or None,  # 0 = no deadline, like kubectl
                               token=token, impersonate_user=args.as_user or "", impersonate_groups=args.as_groups,
                               credentials=credentials, connect_timeout=timeout or DEFAULT_REQUEST_TIMEOUT)
    session = Session(client, server, namespace, explicit_namespace=bool(args.namespace))
    learned: list[KindInfo] = []
    try:  # so `kctl get <crd-plural>` and CR manifests resolve; the command itself reports an unreachable server
        learned = await asyncio.wait_for(learn_custom_kinds(client), LEARN_TIMEOUT)
    except (ApiError, TimeoutError):
        pass
    try:
        return await func(session, args)
    finally:
        forget(learned)
        await client.close()


def _print(lines: list[str]) -> None:
    for line in lines:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def parse(parser: Parser, args_list: list[str], namespace: argparse.Namespace) -> argparse.Namespace:
    """Parse the command line; `-- WORDS` go to `args.trailing` for commands that take them.

    Why split before parsing: argparse's REMAINDER swallows the flags after the first
    positional (`create deployment x --image i -- cmd`), so commands that set
    `takes_trailing` see only the words before `--`; the others (exec) parse everything.
    """
    cut = args_list.index("--") if "--" in args_list else len(args_list)
    # `-o=jsonpath=...` (kubectl's pflag spelling) would reach argparse as the value "=jsonpath=...".
    args_list = [f"--output={a[3:]}" if i < cut and a.startswith("-o=") else a for i, a in enumerate(args_list)]
    if "--" in args_list:
        try:
            head = parser.parse_args(args_list[:cut], namespace=argparse.Namespace(**vars(namespace)))
        except CliError:
            head = None
        if head is not None and getattr(head, "takes_trailing", False):
            head.trailing = args_list[cut + 1:]
            return head
    parsed = parser.parse_args(args_list, namespace=namespace)
    if not hasattr(parsed, "trailing"):
        parsed.trailing = []
    return parsed


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    word = command_word(args_list)
    parser = build_parser(word)
    server = "?"
    args = argparse.Namespace(streaming=False)
    try:
        try:
            args = parse(parser, args_list, args)
        except CliError:
            if word is None:
                raise
            parser = build_parser()  # the error as the parser of every command words it
            args = parse(parser, args_list, argparse.Namespace(streaming=False))
        local = getattr(args, "local_func", None)
        if local is not None:  # `config ...`: works on the config file, never talks to a cluster
            return int(local(args))
        func: Command | None = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 0 if not args_list else 1
        config = load_config(config_path(), args.context)
        server = resolve_server(args.server, config=config)
        namespace = resolve_namespace(args.namespace, config)
        token = resolve_token(args.token, config=config)
        tls = config.tls()
        try:
            credentials = tls.credentials() if tls is not None else None
        except ClientTLSError as exc:
            raise ConfigError(f"{config_path()}: {exc}") from None
        return asyncio.run(_run(func, args, server, namespace, token, credentials))
    except CliError as err:
        _print(err.lines)
        return 1
    except ConfigError as err:
        _print([f"error: {err}"])
        return 1
    except ReportedFailure:
        return 1
    except ApiError as err:
        _print([unreachable_message(server, err) if is_unreachable(err, server) else format_api_error(err)])
        return 1
    except KeyboardInterrupt:
        return 0 if getattr(args, "streaming", False) else 130
    except (BrokenPipeError, ConnectionResetError) as err:
        if not isinstance(err, BrokenPipeError):
            _print([f"error: connection to the apiserver at {server} was reset"])
            return 1
        # `kctl get pods | head`: the reader left; say nothing and do not flush into a closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as err:  # a kctl bug: still one line for the user, the traceback on request
        if os.environ.get("KCTL_DEBUG"):
            raise
        _print([f"error: kctl failed unexpectedly: {type(err).__name__}: {err} "
                "(set KCTL_DEBUG=1 to see the traceback)"])
        return 1


if __name__ == "__main__":
    sys.exit(main())
