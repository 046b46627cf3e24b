"""Which event loop a daemon runs on: uvloop, unless the daemon starts child processes.

Why uvloop: an idle kubelite daemon's CPU is mostly its loop waking up for a Raft
heartbeat, a watch event or a timer, and the kvstore's Raft streams go through
TLS; the standard library's loop does the TLS record layer in pure Python
(`asyncio.sslproto`, about a third of an idle kvstore member's samples). uvloop
runs the loop, its sockets and its TLS transport in Cython on libuv. gRPC's
asyncio API and aiohttp run on it unchanged. What it changed is measured in
`bench/README.md` ("Sixth pass").

Why not for every daemon: uvloop's subprocess transport hands a child more than
its three standard descriptors (the parent's ends of the pipes it made), so a
child that daemonizes (nginx, conmon) keeps the pipes open and the parent never
sees them close: `communicate()` on `nginx` hung and the ingress controller never
became ready. The daemons that start processes (kubelet: runc, conmon, CNI
plugins; proxy: iptables; ingress: nginx) say so and keep the standard loop.

`KUBELITE_EVENT_LOOP=asyncio` puts every daemon on the standard library's loop
(debugging with asyncio's own tools, comparing the two); the same happens, with
a warning, where uvloop cannot be imported. Nothing else depends on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

ENV = "KUBELITE_EVENT_LOOP"
STANDARD = "asyncio"
UVLOOP = "uvloop"


def choose(spawns_processes: bool) -> str:
    """The loop a daemon runs on (`UVLOOP` or `STANDARD`)."""
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted not in ("", STANDARD, UVLOOP):
        log.warning("unknown event loop in the environment, using the default",
                    extra={"variable": ENV, "value": wanted})
    if spawns_processes or wanted == STANDARD:
        return STANDARD
    try:
        import uvloop  # noqa: F401
    except ImportError:
        log.warning("uvloop is not installed: running on the standard library's event loop")
        return STANDARD
    return UVLOOP


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory of `choice`'s loops, for `asyncio.Runner`."""
    if choice == UVLOOP:
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop
