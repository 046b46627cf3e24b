"""`kubelite proxy` as a real process inside a node network namespace, real iptables, real HTTP backends.

Each test creates Services/Endpoints in a real apiserver, starts the proxy in
the node namespace, and sends real connections (new connection per request)
from the node, from an outside namespace and from pods.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.api import Endpoints, Service
from kubelite.client import ApiClient
from tests.integration.proxy.netlab import NODE_IP, ROOT, ApiForwarder, Lab, missing_requirements, wait_until

REASON = missing_requirements()
pytestmark = [pytest.mark.integration, pytest.mark.requires_root("network namespaces, iptables"),
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]
HEALTH_PORT = 10256  # inside the node namespace, where nothing else listens


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    net = Lab(f"kpx{os.getpid()}")
    try:
        yield net.setup()
    finally:
        while _WATCHDOGS:
            _WATCHDOGS.pop().cancel()
        net.close()


class ProxyProcess:
    def __init__(self, lab: Lab, server: str, log: Path) -> None:
        self.lab, self.server, self.log = lab, server, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", self.lab.node, sys.executable, "-m", "kubelite.proxy.main", "--server", self.server,
                "--node-name", "node-1", "--node-ip", NODE_IP, "--listen-health", f"127.0.0.1:{HEALTH_PORT}",
                "--sync-period", "30s", "--min-sync-period", "0",
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=asyncio.subprocess.DEVNULL, stderr=err)

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            assert self.proc is not None and self.proc.returncode is None, self.log.read_text()[-3000:]
            return await self.lab.ready(HEALTH_PORT)
        await wait_until(ready, "proxy /readyz", timeout=60)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the proxy and return its exit status (0 expected for SIGTERM: graceful)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            raise AssertionError(f"proxy did not stop within 30s; log:\n{self.tail()}") from None

    def tail(self) -> str:
        return self.log.read_text()[-4000:]


@pytest.fixture
async def proxies(control_plane: Any, lab: Lab, tmp_path: Path) -> AsyncIterator[list[ProxyProcess]]:
    """A factory list: tests append started proxies; all are stopped and their rules removed afterwards."""
    while _WATCHDOGS:
        _WATCHDOGS.pop().cancel()
    forwarder = ApiForwarder(control_plane.server, tmp_path / "api.sock")
    await forwarder.start()
    started: list[ProxyProcess] = []
    started.append(ProxyProcess(lab, forwarder.address, tmp_path / "proxy.log"))
    try:
        yield started
    finally:
        for p in started:
            if p.proc is not None and p.proc.returncode is None:
                p.proc.kill()
                await asyncio.wait_for(p.proc.wait(), 30)
        try:
            rc, err = await asyncio.wait_for(cleanup(lab), 60)
            assert rc == 0, f"proxy --cleanup failed: {err}"
        finally:
            await asyncio.wait_for(forwarder.stop(), 30)
        _watch_control_plane_teardown()


def _watch_control_plane_teardown(after: float = 120.0) -> None:
    """If the control plane's teardown (which runs next) hangs, print every task's stack to find out where."""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)
    _WATCHDOGS.append(loop.call_later(after, dump))


_WATCHDOGS: list[asyncio.TimerHandle] = []


async def cleanup(lab: Lab) -> tuple[int, str]:
    rc, _, err = await lab.run(lab.node, sys.executable, "-c",
                               f"import sys; sys.path.insert(0, {str(ROOT)!r}); from kubelite.proxy.main import main; "
                               "raise SystemExit(main(['--cleanup']))")
    return rc, err


async def make_service(client: ApiClient, name: str, cluster_ip: str, ready: list[str], not_ready: list[str] = (),
                       **spec: Any) -> None:  # type: ignore[assignment]
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": 8080}])
    await client.create(Service.from_dict({"metadata": {"name": name}, "spec": {"clusterIP": cluster_ip, **spec}}))
    await client.create(Endpoints.from_dict({"metadata": {"name": name}, "subsets": [{
        "addresses": [{"ip": ip} for ip in ready], "notReadyAddresses": [{"ip": ip} for ip in not_ready],
        "ports": [{"name": "http", "port": 8080}]}]}))


def pod_ips(lab: Lab) -> list[str]:
    return [ip for _, ip in lab.pods.values()]


async def test_cluster_ip_spreads_evenly_node_port_and_hairpin_work(control_plane: Any, lab: Lab,
                                                                     proxies: list[ProxyProcess]) -> None:
    await make_service(control_plane.client, "web", "10.96.100.10", pod_ips(lab), type="NodePort",
                       ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}])
    proxy = proxies[0]
    await proxy.start()
    await proxy.wait_ready()

    r = await lab.requests(lab.node, "10.96.100.10", 80, 150)
    assert not r.errors and set(r.bodies) == set(lab.pods), r
    assert min(r.bodies.values()) >= 0.15 * r.total, r  # every backend gets a fair share

    r = await lab.requests(lab.outside, NODE_IP, 30080, 60)  # NodePort from outside the node (masqueraded)
    assert not r.errors and set(r.bodies) == set(lab.pods), r
    r = await lab.requests(lab.node, NODE_IP, 30080, 30)  # NodePort from the node itself
    assert not r.errors and r.total == 30, r
    r = await lab.requests(lab.outside, "10.96.100.10", 80, 30)  # ClusterIP from outside the cluster CIDR
    assert not r.errors and r.total == 30, r

    pod0_ns = lab.pods["pod0"][0]
    r = await lab.requests(pod0_ns, "10.96.100.10", 80, 60)  # a pod reaching its own Service: hairpin
    assert not r.errors and "pod0" in r.bodies and set(r.bodies) == set(lab.pods), r


async def test_affinity_sticks_and_service_without_ready_endpoints_is_rejected(
        control_plane: Any, lab: Lab, proxies: list[ProxyProcess]) -> None:
    client: ApiClient = control_plane.client
    ips = pod_ips(lab)
    await make_service(client, "sticky", "10.96.100.11", ips, sessionAffinity="ClientIP")
    await make_service(client, "empty", "10.96.100.12", [], not_ready=ips[:1])
    proxy = proxies[0]
    await proxy.start()
    await proxy.wait_ready()

    r = await lab.requests(lab.node, "10.96.100.11", 80, 40)
    assert not r.errors and len(r.bodies) == 1 and r.total == 40, r  # ClientIP affinity: one backend
    r = await lab.requests(lab.outside, "10.96.100.11", 80, 20)
    assert not r.errors and len(r.bodies) == 1, r

    for ns in (lab.node, lab.outside):
        r = await lab.requests(ns, "10.96.100.12", 80, 5)
        assert r.total == 0 and len(r.errors) == 5, r
        assert all(e.startswith("ConnectionRefusedError") for e in r.errors), r
        assert all(float(e.rsplit("after ", 1)[1].rstrip("s")) < 1.0 for e in r.errors), r  # refused fast

    # the not-ready endpoint becomes ready: the proxy picks it up incrementally
    eps = await client.get(Endpoints, "empty")
    subset = eps.subsets[0]
    subset.addresses, subset.not_ready_addresses = subset.not_ready_addresses, []
    await client.update(eps)

    async def served() -> bool:
        r = await lab.requests(lab.node, "10.96.100.12", 80, 3)
        return r.bodies == {"pod0": 3}
    await wait_until(served, "the newly ready endpoint to serve", timeout=10)


async def test_killing_and_restarting_the_proxy_loses_no_request(control_plane: Any, lab: Lab,
                                                                 proxies: list[ProxyProcess], tmp_path: Path) -> None:
    await make_service(control_plane.client, "steady", "10.96.100.13", pod_ips(lab))
    first = proxies[0]
    await first.start()
    await first.wait_ready()
    client = await lab.start_loop(lab.outside, "10.96.100.13", 80, tmp_path / "stop-client")
    try:
        await client.wait_more(20)
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
        await client.wait_more(20)  # no proxy at all: the rules keep serving
        second = ProxyProcess(lab, first.server, first.log)
        proxies.append(second)
        await second.start()
        await second.wait_ready()  # its first sync rewrote every chain while the client kept going
        await client.wait_more(20)
        assert await second.stop(signal.SIGTERM) == 0, second.tail()  # graceful stop: the rules stay
        third = ProxyProcess(lab, first.server, first.log)
        proxies.append(third)
        await third.start()
        await third.wait_ready()
        await client.wait_more(20)
    finally:
        r = await client.finish()
    assert not r.errors, r
    assert r.total >= 80 and set(r.bodies) == set(lab.pods), r


async def test_graceful_stop_keeps_rules_and_cleanup_removes_everything(control_plane: Any, lab: Lab,
                                                                        proxies: list[ProxyProcess]) -> None:
    await make_service(control_plane.client, "web", "10.96.100.14", pod_ips(lab), type="NodePort",
                       ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30081}])
    await make_service(control_plane.client, "none", "10.96.100.15", [])
    proxy = proxies[0]
    await proxy.start()
    await proxy.wait_ready()
    assert await proxy.stop(signal.SIGTERM) == 0, proxy.tail()
    saved = await lab.iptables_save()
    assert "KUBE-SVC-" in saved and "KUBE-SEP-" in saved and "REJECT" in saved
    r = await lab.requests(lab.node, "10.96.100.14", 80, 10)
    assert not r.errors, r  # rules keep serving with no proxy running

    rc, err = await cleanup(lab)
    assert rc == 0, err
    saved = await lab.iptables_save()
    assert "KUBE-" not in saved, saved
    rc, err = await cleanup(lab)  # idempotent
    assert rc == 0, err
