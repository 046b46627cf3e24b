"""Runs one real nginx for one node of one cluster: write config atomically, `nginx -t`, start or reload.

Why its own prefix, pid file and temp dirs under the cluster's data dir:
several clusters (and tests) share one host, so nothing may live in
/etc/nginx, /run/nginx.pid or /var/lib/nginx. Reload is nginx's own graceful
`-s reload` (new workers take new connections, old ones finish theirs), so a
config change drops no request; a config nginx rejects is never installed and
the running one keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import signal
from pathlib import Path

from kubelite.ingress.nginxplan import Paths

log = logging.getLogger("ingress.nginx")

TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxError(Exception):
    """nginx refused a configuration or could not start; the message carries its stderr."""


def worker_user() -> str | None:
    """The unprivileged user nginx workers run as when started by root (None: not root, keep ours)."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Nginx:
    def __init__(self, paths: Paths, binary: str = "nginx") -> None:
        self.paths = paths
        self.binary = binary
        self.prefix = Path(paths.prefix)
        self.conf = self.prefix / "nginx.conf"
        self.applied = ""  # the config text nginx runs now

    def prepare(self) -> None:
        """Directories: the prefix (0700), certificates (0700), temp dirs owned by the worker user."""
        self.prefix.mkdir(parents=True, exist_ok=True, mode=0o700)
        Path(self.paths.cert_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        user = worker_user()
        for name in TEMP_DIRS:
            d = self.prefix / "tmp" / name
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            if user is not None:
                os.chown(d, pwd.getpwnam(user).pw_uid, -1)

    async def _run(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log"), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise NginxError(f"nginx {' '.join(args)}: {err.decode(errors='replace').strip()}")

    def master_pid(self) -> int | None:
        try:
            pid = int(Path(self.paths.pid_file).read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def _write_certs(self, certs: dict[str, bytes]) -> None:
        cert_dir = Path(self.paths.cert_dir)
        for name, pem in certs.items():
            path = cert_dir / name
            if not path.exists() or path.read_bytes() != pem:
                _write_atomic(path, pem, 0o600)
        for old in cert_dir.glob("*.pem"):
            if old.name not in certs:
                old.unlink(missing_ok=True)

    async def apply(self, text: str, certs: dict[str, bytes]) -> bool:
        """Install `text` (checked first) and make nginx serve it; False when nothing changed."""
        running = self.master_pid() is not None
        if running and text == self.applied:
            return False
        self._write_certs(certs)
        previous = self.conf.read_bytes() if self.conf.exists() else None
        _write_atomic(self.conf, text.encode(), 0o600)
        try:
            await self._run("-t", "-q")
        except NginxError:
            if previous is not None:
                _write_atomic(self.conf, previous, 0o600)
            raise
        if running:
            await self._run("-s", "reload")
        else:
            await self._run()
            log.info("nginx started", extra={"prefix": str(self.prefix), "pid_file": self.paths.pid_file})
        self.applied = text
        return True

    async def stop(self, timeout: float = 10.0) -> None:
        """Graceful quit (open requests finish), then SIGKILL of the master if it lingers."""
        pid = self.master_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGQUIT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.master_pid() is None:
                return
            await asyncio.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
