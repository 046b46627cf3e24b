"""Run a daemon's main coroutine until SIGTERM/SIGINT, then stop it gracefully.

Why one helper: every daemon must shut down the same way (stop accepting work,
finish or cancel in-flight work, flush state, exit 0) and must not leave child
processes behind; centralising it keeps that promise in one place.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from kubelite.daemon import eventloop

log = logging.getLogger(__name__)


def run_daemon(main: Callable[[asyncio.Event], Awaitable[None]], *, spawns_processes: bool = False) -> int:
    """Run `main(stop_event)`; SIGTERM/SIGINT set `stop_event`.

    `main` should start its servers, `await stop_event.wait()`, then clean up and
    return. A second signal cancels `main` outright. Returns the process exit code.
    A daemon that starts child processes says so: it runs on the standard library's
    event loop, the others on uvloop (`kubelite.daemon.eventloop`).
    """
    choice = eventloop.choose(spawns_processes)

    async def runner() -> int:
        log.info("event loop", extra={"loop": choice})
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        task = asyncio.current_task()
        signals_seen = 0

        def on_signal(signame: str) -> None:
            nonlocal signals_seen
            signals_seen += 1
            log.info("received signal, shutting down", extra={"signal": signame})
            stop.set()
            if signals_seen > 1 and task is not None:
                inner.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, on_signal, sig.name)
        inner = asyncio.ensure_future(main(stop))
        try:
            await inner
        except asyncio.CancelledError:
            log.warning("forced shutdown")
            return 1
        log.info("stopped")
        return 0

    try:
        with asyncio.Runner(loop_factory=eventloop.loop_factory(choice)) as asyncio_runner:
            return asyncio_runner.run(runner())
    except KeyboardInterrupt:
        return 130
