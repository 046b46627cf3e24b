"""`kctl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]`: run a command in a container.

The command runs on the pod's node (the apiserver relays to the kubelet);
its stdout/stderr stream back as they come, `-i` sends our stdin, `-t` gives
it a terminal (our own terminal goes raw meanwhile), and kctl exits with the
command's exit code, like kubectl.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kubectl.commands.logs import pick_container, resolve_pod
from kubectl.errors import CliError
from kubectl.printers import dig
from kubectl.session import Session
from kubelite.api.errors import NotFound

READ_CHUNK = 32 * 1024


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("exec", parents=parents, help="run a command in a container",
                       description="kctl exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARGS...]")
    p.add_argument("target", metavar="POD")
    p.add_argument("-c", "--container", default="", help="container name (default: the pod's default one)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal for the command")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    p.set_defaults(func=run)


def _split_flags(args: argparse.Namespace, rest: list[str]) -> list[str]:
    """argparse stops at POD; flags between POD and `--` (`exec web -c app -i -- cat`) still
    count, like kubectl's. Returns the command after `--`."""
    if "--" not in rest:
        return rest
    cut = rest.index("--")
    flags, command = rest[:cut], rest[cut + 1:]
    if flags:
        extra = argparse.ArgumentParser(prog="kctl exec", add_help=False)
        extra.add_argument("-c", "--container", default=args.container)
        extra.add_argument("-i", "--stdin", action="store_true", default=args.stdin)
        extra.add_argument("-t", "--tty", action="store_true", default=args.tty)
        try:
            parsed = extra.parse_args(flags)
        except SystemExit:
            raise CliError(f"unknown flags before '--': {' '.join(flags)}") from None
        args.container, args.stdin, args.tty = parsed.container, parsed.stdin, parsed.tty
    return command


async def _stdin_chunks() -> AsyncIterator[bytes]:
    """Our stdin, chunk by chunk, read by a daemon thread: a blocked read must not keep
    kctl alive after the remote command has exited (asyncio.run waits for executor
    threads, not for daemon threads)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    fd = sys.stdin.fileno()

    def reader() -> None:
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:
                chunk = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except RuntimeError:  # the loop is gone: kctl is exiting
                return
            if not chunk:
                return

    threading.Thread(target=reader, name="kctl-exec-stdin", daemon=True).start()
    while chunk := await queue.get():
        yield chunk


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    """Our terminal in raw mode while a remote tty session runs (keys go through as typed)."""
    if not enabled or not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write(fd: int, data: bytes) -> None:
    stream = sys.stderr.buffer if fd == 2 else sys.stdout.buffer
    stream.write(data)
    stream.flush()


async def run(session: Session, args: argparse.Namespace) -> int:
    command = _split_flags(args, list(args.command))
    if not command:
        raise CliError("you must specify at least one command for the container (kctl exec POD -- COMMAND)")
    args.streaming = True
    try:
        pod = await resolve_pod(session, args.target)  # a pod, or the best pod of deploy/NAME, sts/NAME...
    except NotFound:
        raise NotFound(f'pods "{args.target}" not found', name=args.target, kind="pods") from None
    pod_name = str(dig(pod, "metadata", "name"))
    phase = dig(pod, "status", "phase")
    if phase in ("Succeeded", "Failed"):
        raise CliError(f"cannot exec into a container in a completed pod; current phase is {phase}")
    container = pick_container(pod, args.container)
    tty = bool(args.tty)
    if tty and not args.stdin:
        sys.stderr.write("Unable to use a TTY - input is not a terminal or the right kind of file\n")
        tty = False
    with _raw_terminal(tty):
        return await session.client.exec(
            str(dig(pod, "metadata", "namespace") or session.namespace), pod_name, command,
            container=container, tty=tty, stdin=_stdin_chunks() if args.stdin else None, on_output=_write,
        )
