"""`kctl run --rm -i|-t|--attach`: show a new pod's output until it ends, then (with --rm) delete it.

Why the log stream and not an attach socket: kubelite containers have no stdin and no terminal
(the kubelet's attach serves output only), so what an attached `kubectl run` shows of a fresh pod
is exactly its log from the start. Following the log of the pod's container from its first line
cannot miss the output a short-lived command writes before an attach could connect. `-i`/`-t`
are accepted for the habit (`kctl run --rm -it debug --image=busybox -- wget -qO- web`), with a
warning that input is not forwarded; the exit code is the container's, like kubectl's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import aclosing

from kubectl.errors import CliError
from kubectl.output import warn, write
from kubectl.printers import as_dict, as_list, dig
from kubectl.resources import resolve_kind
from kubectl.session import Obj, Session
from kubelite.api.durations import duration
from kubelite.api.errors import NotFound

POLL = 0.3  # seconds between looks at the pod while it starts and after its output ends
STATUS_GRACE = 30.0  # how long the kubelet may take to report the ended container


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rm", action="store_true", help="delete the pod once its output ends (needs -i or --attach)")
    p.add_argument("-i", "--stdin", action="store_true",
                   help="attach (kubelite containers have no stdin: their output is shown, input is not sent)")
    p.add_argument("-t", "--tty", action="store_true", help="accepted for kubectl's -it (containers have no terminal)")
    p.add_argument("--attach", action="store_true", help="wait for the pod to start and show its output until it ends")
    p.add_argument("--pod-running-timeout", type=duration, default=60.0,
                   help="how long to wait for the pod to start, e.g. 30s, 2m (default 1m)")


def wants_attach(args: argparse.Namespace) -> bool:
    """Whether `run` attaches; refuses kubectl's invalid combinations before anything is created."""
    attach = bool(args.attach or args.stdin or args.tty)
    if args.rm and not attach:
        raise CliError("--rm should only be used for attached containers")
    if attach and (args.output or args.dry_run != "none"):
        raise CliError("--dry-run and -o cannot be used with -i, -t, --attach or --rm")
    return attach


async def attach(session: Session, name: str, args: argparse.Namespace) -> int:
    """Show pod `name`'s output until its container ends; delete it with --rm. Returns the exit code."""
    if args.tty or (args.stdin and sys.stdin.isatty()):
        warn("kubelite containers have no stdin or terminal: showing the pod's output only "
             f"(for an interactive shell: kctl exec -it {name} -- sh)")
    info = resolve_kind("pods")
    try:
        pod = await _started(session, name, args.pod_running_timeout)
        container = str(as_dict(as_list(dig(pod, "spec", "containers"))[0]).get("name", ""))
        chunks = session.client.logs(session.namespace, name, container=container, follow=True)
        async with aclosing(chunks) as stream:
            async for chunk in stream:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
        code, reason = await _exit_of(session, name)
    finally:
        if args.rm:
            try:
                await session.delete(info, name)
                write(f'pod "{name}" deleted\n')
            except NotFound:
                pass
    if code:
        warn(f"pod {session.namespace}/{name} terminated ({reason or 'Error'})")
    return code


async def _started(session: Session, name: str, timeout: float) -> Obj:
    """The pod once its container runs or has ended (kubectl's --pod-running-timeout)."""
    info = resolve_kind("pods")
    deadline = time.monotonic() + timeout
    while True:
        pod = await session.get(info, name)
        states = [as_dict(s).get("state") or {} for s in as_list(dig(pod, "status", "containerStatuses"))]
        if dig(pod, "status", "phase") in ("Succeeded", "Failed") or any(
                "running" in s or "terminated" in s for s in states):
            return pod
        if time.monotonic() >= deadline:
            raise CliError(f"timed out waiting for the condition: pod {name} did not start "
                           f"(status {dig(pod, 'status', 'phase') or 'Unknown'})")
        await asyncio.sleep(POLL)


async def _exit_of(session: Session, name: str) -> tuple[int, str]:
    """(exit code, reason) of the pod's ended container, once the kubelet reported it."""
    info = resolve_kind("pods")
    deadline = time.monotonic() + STATUS_GRACE
    while time.monotonic() < deadline:
        pod = await session.get(info, name)
        for status in as_list(dig(pod, "status", "containerStatuses"))[:1]:
            for key in ("state", "lastState"):
                ended = as_dict(as_dict(as_dict(status).get(key)).get("terminated"))
                if ended:
                    return int(ended.get("exitCode") or 0), str(ended.get("reason") or "")
        await asyncio.sleep(POLL)
    return 0, ""
