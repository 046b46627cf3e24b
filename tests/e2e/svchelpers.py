"""Helpers for the Service and self-healing e2e tests: request loops in pods, API samplers.

Why these shapes: the checks are about what a client sees *while* something
changes (a rollout, a proxy restart, a pod deletion), so a request loop runs
inside a client pod for the whole change and timestamps every answer, and a
sampler polls the API on a thread at the same time. Both use CLOCK_BOOTTIME
(what a container's /proc/uptime shows, since it is not namespaced), so the
pod's timestamps and the host's line up without clock tricks.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kubelite import cleanup
from kubelite.client import ApiClient
from tests.e2e.cluster import LocalCluster, wait_for

T = TypeVar("T")

# One request per iteration, stamped with /proc/uptime; ends at the deadline or when the stop file exists.
# (busybox: `wget -T` segfaults, so `timeout` bounds each request; `date` has no %N.)
LOOP_SCRIPT = r"""
url=$1; max=$2; stop=$3; pause=$4
read up _ < /proc/uptime; end=$(( ${up%.*} + max ))
while [ ! -e "$stop" ]; do
  read up _ < /proc/uptime
  [ "${up%.*}" -ge "$end" ] && break
  if r=$(timeout 3 wget -q -O- "$url" 2>/dev/null); then echo "$up $r"; else echo "$up FAIL"; fi
  [ "$pause" = 0 ] || sleep "$pause"
done
echo "$up END"
"""


def now() -> float:
    """Seconds on the clock pods see in /proc/uptime."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def get_json(c: LocalCluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(c.kctl_ok("get", *args, "-o", "json")))


def items(c: LocalCluster, *args: str) -> list[dict[str, Any]]:
    data = get_json(c, *args)
    return list(data["items"]) if data.get("kind", "").endswith("List") else [data]


def apply(c: LocalCluster, manifest: str, namespace: str = "") -> str:
    return c.kctl_ok("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=manifest)


def is_ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def live(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp")


def ready_pods(c: LocalCluster, selector: str, namespace: str = "default") -> list[dict[str, Any]]:
    return [p for p in items(c, "pods", "-n", namespace, "-l", selector)
            if live(p) and is_ready(p) and p.get("status", {}).get("phase") == "Running"]


def wait_ready(c: LocalCluster, selector: str, count: int, timeout: float = 90, namespace: str = "default",
               check: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[dict[str, Any]]:
    """Exactly `count` live pods, all Running and Ready (and passing `check`)."""
    def done() -> list[dict[str, Any]] | None:
        pods = [p for p in items(c, "pods", "-n", namespace, "-l", selector) if live(p)]
        ok = len(pods) == count and all(is_ready(p) and p["status"].get("phase") == "Running" for p in pods)
        seen[:] = pods
        return pods if ok and (check is None or check(pods)) else None
    seen: list[dict[str, Any]] = []
    try:
        return wait_for(done, timeout, f"{count} ready pods with {selector} in {namespace}", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\nlast pods seen:\n" + "\n".join(_describe(p) for p in seen)) from None


def _describe(pod: dict[str, Any]) -> str:
    """One line per pod for a failure message: what a person would look at first."""
    st = pod.get("status", {})
    conds = {c.get("type"): c.get("status") for c in st.get("conditions", [])}
    containers = [(c.get("name"), c.get("ready"), c.get("restartCount"), c.get("state"))
                  for c in st.get("containerStatuses", [])]
    return (f"  {pod['metadata']['name']} uid={pod['metadata'].get('uid')} node={pod.get('spec', {}).get('nodeName')}"
            f" phase={st.get('phase')} conditions={conds} containers={containers}")


def pod_running(c: LocalCluster, name: str, timeout: float = 90, namespace: str = "default") -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = c.kctl("get", "pod", name, "-n", namespace, "-o", "json")
        if r.returncode != 0:
            return None
        p = dict(json.loads(r.stdout))
        return p if p.get("status", {}).get("phase") == "Running" and is_ready(p) else None
    return wait_for(done, timeout, f"pod {namespace}/{name} to run and be ready", interval=0.5)


def pod_exec(c: LocalCluster, pod: str, script: str, *args: str, namespace: str = "default",
             timeout: float = 120) -> str:
    r = c.kctl("exec", "-n", namespace, pod, "--", "sh", "-c", script, "sh", *args, timeout=timeout)
    assert r.returncode == 0, f"exec in {pod} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r.stdout


def runc_container_running(c: LocalCluster, container_id: str) -> bool:
    cid = container_id.rpartition("://")[2]
    return any(ct.id == cid and ct.status == "running"
               for root in cleanup.runc_roots(c.data_dir) for ct in cleanup.runc_list(root))


@dataclass
class LoopResult:
    answers: list[tuple[float, str]] = field(default_factory=list)  # (uptime at request start, body or FAIL)

    @property
    def failures(self) -> list[float]:
        return [t for t, body in self.answers if body == "FAIL"]

    def between(self, t0: float, t1: float) -> LoopResult:
        return LoopResult([(t, b) for t, b in self.answers if t0 <= t <= t1])

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, body in self.answers:
            out[body] = out.get(body, 0) + 1
        return out

    def first(self, body: str) -> float | None:
        return next((t for t, b in self.answers if b == body), None)

    def last(self, body: str) -> float | None:
        return next((t for t, b in reversed(self.answers) if b == body), None)


class RequestLoop:
    """`with RequestLoop(c, "client", url) as loop: ...` — requests from inside a pod, read live.

    The loop runs in the pod (via `kctl exec`) until the block ends (a stop
    file is touched) or `max_seconds` pass; `loop.result` grows as answers
    arrive, so a test can wait on it (`wait_served`).
    """

    def __init__(self, c: LocalCluster, pod: str, url: str, max_seconds: int = 240, pause: str = "0",
                 namespace: str = "default") -> None:
        self.c, self.pod, self.url, self.namespace = c, pod, url, namespace
        self.max_seconds, self.pause = max_seconds, pause
        self.stop_file = f"/tmp/stop-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[str] | None = None
        self.result = LoopResult()
        self.ended = False
        self._reader: threading.Thread | None = None

    def __enter__(self) -> RequestLoop:
        cmd = [sys.executable, "-m", "kubectl.main", "--server", self.c.server, "exec", "-n", self.namespace,
               self.pod, "--", "sh", "-c", LOOP_SCRIPT, "sh", self.url, str(self.max_seconds), self.stop_file,
               self.pause]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=self.c.env, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_served(lambda r: bool(r.answers), 30, "the request loop to start")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            stamp, _, body = line.strip().partition(" ")
            try:
                t = float(stamp)
            except ValueError:
                continue
            if body == "END":
                self.ended = True
            else:
                self.result.answers.append((t, body.strip()))

    def wait_served(self, predicate: Callable[[LoopResult], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.result):
                return
            if self.proc is not None and self.proc.poll() is not None and not self.ended:
                break
            time.sleep(0.05)
        err = self.proc.stderr.read()[-1000:] if self.proc and self.proc.stderr and self.proc.poll() is not None else ""
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; answers so far: "
                             f"{self.result.counts()} {err}")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None and self._reader is not None
        self.c.kctl("exec", "-n", self.namespace, self.pod, "--", "touch", self.stop_file)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        if not self.ended and exc == (None, None, None):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"request loop in {self.pod} did not finish cleanly: {err[-1000:]}")


class Sampler(Generic[T]):
    """Polls a List on a thread every `interval` seconds and keeps `(now(), reduce(items))` samples."""

    def __init__(self, c: LocalCluster, resource: str, reduce: Callable[[list[dict[str, Any]]], T],
                 namespace: str = "default", selector: str = "", interval: float = 0.1) -> None:
        self.c, self.resource, self.reduce = c, resource, reduce
        self.namespace, self.selector, self.interval = namespace, selector, interval
        self.samples: list[tuple[float, T]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        client = ApiClient.connect(self.c.server, timeout=5, credentials=self.c.credentials())
        try:
            while not self._stop.is_set():
                try:
                    data = await client.list_raw(self.resource, self.namespace, label_selector=self.selector)
                    self.samples.append((now(), self.reduce(list(data["items"]))))
                except Exception:  # noqa: BLE001 - a sample lost to a blip is just a gap
                    self.errors += 1
                await asyncio.sleep(self.interval)
        finally:
            await client.close()

    def __enter__(self) -> Sampler[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait(self, predicate: Callable[[T], bool], timeout: float, what: str, since: float | None = None) -> float:
        """Time of the first sample that satisfies `predicate`, taken at `since` or later (default: now)."""
        since = now() if since is None else since
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, value in list(self.samples):
                if t >= since and predicate(value):
                    return t
            time.sleep(self.interval)
        last = self.samples[-1][1] if self.samples else None
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last sample: {last!r}")
