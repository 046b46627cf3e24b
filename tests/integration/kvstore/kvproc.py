"""Run `kubelite kvstore` as a real OS process for integration tests.

Ports are chosen by the daemon (`127.0.0.1:0`) and read back from its JSON log,
so tests never race other processes for a port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


class KVProcess:
    def __init__(self, data_dir: Path, log_path: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.health = ""

    def start(self, wait: bool = True) -> KVProcess:
        self._log = self.log_path.open("ab")
        self._offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubelite.main", "kvstore", "--data-dir", str(self.data_dir),
             "--listen-client", "127.0.0.1:0", "--listen-health", "127.0.0.1:0", *self.extra],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=self._log,
        )
        if wait:
            self.wait_serving()
        return self

    def log_lines(self) -> list[dict[str, object]]:
        out = []
        with self.log_path.open("rb") as fh:
            fh.seek(self._offset)
            for line in fh.read().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"msg": line.decode(errors="replace")})
        return out

    def wait_serving(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_lines():
                if entry.get("msg") == "health endpoint listening":
                    self.health = str(entry["addr"])
                if entry.get("msg") == "kvstore serving":
                    self.endpoint = str(entry["endpoint"])
                    return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"kvstore exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.02)
        raise AssertionError(f"kvstore not serving after {timeout}s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(20)
        self._log.close()
        return rc

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
