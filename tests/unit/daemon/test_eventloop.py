"""Which event loop a daemon runs on: uvloop when installed, asyncio's own as the fallback."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from kubelite.daemon import eventloop

ROOT = Path(__file__).resolve().parents[3]


async def _loop_name() -> str:
    return eventloop.loop_name(asyncio.get_running_loop())


def _run_in_thread(monkeypatch: pytest.MonkeyPatch, value: str | None) -> str:
    """`eventloop.run` in a fresh thread (this test already runs inside a loop)."""
    if value is None:
        monkeypatch.delenv(eventloop.ENV, raising=False)
    else:
        monkeypatch.setenv(eventloop.ENV, value)
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(eventloop.run(_loop_name())))
    t.start()
    t.join(30)
    return result[0]


def test_uses_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    assert _run_in_thread(monkeypatch, None) == "uvloop"


def test_asyncio_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run_in_thread(monkeypatch, "asyncio") == "asyncio"


def test_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert _run_in_thread(monkeypatch, "auto") == "asyncio"


def test_required_uvloop_missing_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setenv(eventloop.ENV, "uvloop")
    with pytest.raises(ImportError):
        eventloop.loop_factory()


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "tokio")
    with pytest.raises(ValueError, match=eventloop.ENV):
        eventloop.loop_factory()


_DAEMON = textwrap.dedent("""
    import asyncio, sys
    from kubelite.daemon import run_daemon
    from kubelite.daemon.eventloop import loop_name

    async def main(stop):
        print(loop_name(asyncio.get_running_loop()), flush=True)
        await stop.wait()

    sys.exit(run_daemon(main))
""")


@pytest.mark.parametrize("choice", ["auto", "asyncio"])
def test_daemon_stops_on_sigterm_on_either_loop(choice: str) -> None:
    """The signal handling every daemon relies on works on both loops."""
    env = {"PYTHONPATH": str(ROOT), eventloop.ENV: choice, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", _DAEMON], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        name = proc.stdout.readline().strip()
        expected = "asyncio" if choice == "asyncio" else ("uvloop" if _has_uvloop() else "asyncio")
        assert name == expected
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
