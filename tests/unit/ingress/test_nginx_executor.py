"""The nginx executor against real nginx: start, graceful reload, a rejected config keeps the old one, stop."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from kubelite.ingress.nginx import Nginx, NginxError
from kubelite.ingress.nginxplan import Paths

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(paths: Paths, port: int, body: str) -> str:
    return (f"daemon on; pid {paths.pid_file}; error_log {paths.prefix}/error.log; events {{}}\n"
            f"http {{ access_log off; server {{ listen 127.0.0.1:{port}; "
            f"location / {{ return 200 '{body}'; }} }} }}\n")


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as resp:
        return str(resp.read().decode())


def _children(pid: int) -> list[int]:
    """PIDs whose parent is `pid` (nginx's workers; the default config runs one)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_start_reload_reject_and_stop(tmp_path: Path) -> None:
    paths = Paths(str(tmp_path / "ng"), str(tmp_path / "ng" / "certs"))
    nginx = Nginx(paths)
    port = _free_port()

    async def scenario() -> None:
        nginx.prepare()
        try:
            assert await nginx.apply(_conf(paths, port, "one"), {"a.pem": b"x"})
            pid = nginx.master_pid()
            assert pid is not None and await asyncio.to_thread(_get, port) == "one"
            assert oct((Path(paths.cert_dir) / "a.pem").stat().st_mode & 0o777) == "0o600"
            assert not await nginx.apply(_conf(paths, port, "one"), {"a.pem": b"x"})  # unchanged: no reload
            old_workers = set(_children(pid))
            assert old_workers
            assert await nginx.apply(_conf(paths, port, "two"), {})
            # Reload is asynchronous: the master forks new workers, then asks the old ones to quit; until every
            # old worker has exited, one may still accept a connection and answer with the old config.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not old_workers & set(_children(pid)):
                    break
                await asyncio.sleep(0.1)
            assert not old_workers & set(_children(pid)), "the old workers never exited"
            assert await asyncio.to_thread(_get, port) == "two"
            assert nginx.master_pid() == pid  # reloaded, not restarted
            assert not (Path(paths.cert_dir) / "a.pem").exists()  # certificates no longer used are removed
            with pytest.raises(NginxError, match="unknown directive"):
                await nginx.apply("bogus_directive on;\n", {})
            assert await asyncio.to_thread(_get, port) == "two"
            assert "return 200 'two'" in (Path(paths.prefix) / "nginx.conf").read_text()
        finally:
            await nginx.stop()
        assert nginx.master_pid() is None

    asyncio.run(scenario())
