"""The Proxier over a real apiserver, with iptables replaced by a recorder (no root needed).

Shows the informer -> build -> plan path: nothing is written before the caches
are listed, each change reaches the kernel as a small partial restore, and a
deleted Service's chains are removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from kubelite.api import Endpoints, Pod, Service
from kubelite.api.networking import NetworkPolicy
from kubelite.client import ApiClient
from kubelite.daemon import Metrics
from kubelite.proxy.model import Endpoint, service_ports
from kubelite.proxy.proxier import Proxier, ProxyConfig
from kubelite.proxy.rules import Jump, sep_chain, svc_chain
from tests.polling import eventually

pytestmark = pytest.mark.integration


class RecordingIptables:
    def __init__(self) -> None:
        self.payloads: list[str] = []

    async def restore(self, payload: str) -> None:
        self.payloads.append(payload)

    async def save(self, table: str) -> str:
        return f"*{table}\n:KUBE-SVC-STALEFROMBEFORE - [0:0]\nCOMMIT\n" if table == "nat" else f"*{table}\nCOMMIT\n"

    async def ensure_jump(self, jump: Jump) -> bool:
        return False


async def until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_proxier_follows_services_and_endpoints(control_plane: Any) -> None:
    client: ApiClient = control_plane.client
    web = await client.create(Service.from_dict({"metadata": {"name": "web"}, "spec": {
        "clusterIP": "10.96.7.7", "ports": [{"name": "http", "port": 80}]}}))
    await client.create(Endpoints.from_dict({"metadata": {"name": "web"}, "subsets": [{
        "addresses": [{"ip": "10.244.1.2"}], "notReadyAddresses": [{"ip": "10.244.1.3"}],
        "ports": [{"name": "http", "port": 8080}]}]}))
    ipt = RecordingIptables()
    metrics = Metrics()
    proxier = Proxier(client, ProxyConfig(node_name="n1"), ipt, metrics)  # type: ignore[arg-type]
    assert proxier.ready_check() is not None
    task = asyncio.create_task(proxier.run())
    try:
        await until(lambda: proxier.synced_once, "first sync")
        assert proxier.ready_check() is None
        first = "".join(ipt.payloads)
        sp = service_ports(web)[0]
        assert "DNAT --to-destination 10.244.1.2:8080" in first and "10.244.1.3" not in first
        assert "-X KUBE-SVC-STALEFROMBEFORE" in first  # leftovers of an earlier run are removed
        assert "kubeproxy_sync_proxy_rules_iptables_total" in metrics.render()

        eps = await client.get(Endpoints, "web")
        eps.subsets[0].addresses.append(eps.subsets[0].not_ready_addresses.pop())
        await client.update(eps)
        await until(lambda: any("10.244.1.3:8080" in p for p in ipt.payloads), "the new endpoint")
        change = ipt.payloads[-1]
        assert f":{sep_chain(sp, Endpoint('10.244.1.3', 8080))} - [0:0]" in change
        assert f":{sep_chain(sp, Endpoint('10.244.1.2', 8080))} - [0:0]" not in change  # unchanged: not rewritten

        await client.delete(Service, "web")
        await until(lambda: f"-X {svc_chain(sp)}" in ipt.payloads[-1], "the service chain deleted")
        assert metrics.value("kubelite_proxy_syncs_total", mode="partial") >= 2
    finally:
        proxier.stop()
        await asyncio.wait_for(task, 10)


async def test_stop_before_the_apiserver_answers_writes_nothing_and_returns_promptly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = ApiClient.connect("127.0.0.1:1", timeout=2)  # nothing listens there
    failed_lists: set[str] = set()
    real_list = client.list

    async def recording_list(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await real_list(cls, *args, **kwargs)
        except Exception:
            failed_lists.add(cls.__name__)
            raise
    monkeypatch.setattr(client, "list", recording_list)
    ipt = RecordingIptables()
    proxier = Proxier(client, ProxyConfig(node_name="n1"), ipt)  # type: ignore[arg-type]
    task = asyncio.create_task(proxier.run())
    try:
        async def both_failed() -> bool:  # the informers tried, and failed, to list
            return {"Service", "Endpoints"} <= failed_lists  # (and the NetworkPolicy informers)
        await eventually(both_failed, "both informers' first list to fail", timeout=10)
        assert proxier.ready_check() is not None and not task.done()
        proxier.stop()
        await asyncio.wait_for(task, 5)
        assert ipt.payloads == []  # never replaces working rules with an empty view
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


async def test_pods_no_policy_reads_cost_no_sync_and_reach_the_proxy_only_with_an_ip(control_plane: Any) -> None:
    """Issue 20: each proxy used to re-sync once per pod started anywhere; now a pod start costs a
    sync only if a NetworkPolicy can read that pod, and the proxy hears of a pod only once it has an IP."""
    client: ApiClient = control_plane.client
    ipt = RecordingIptables()
    proxier = Proxier(client, ProxyConfig(node_name="n1"), ipt)  # type: ignore[arg-type]
    requests: list[int] = []
    real_request = proxier.runner.request

    def counting_request() -> None:  # the informer handlers ask here, synchronously, as they update the store
        requests.append(1)
        real_request()
    proxier.runner.request = counting_request  # type: ignore[method-assign]
    task = asyncio.create_task(proxier.run())

    async def start_pod(name: str, ip: str, **labels: str) -> None:
        pod = await client.create(Pod.from_dict({"metadata": {"name": name, "labels": labels}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}}))
        await client.bind("default", name, "n1")
        pod = await client.get(Pod, name)
        assert name not in {r.name for r in proxier.netpol.records.values()}
        pod.status.pod_ip, pod.status.phase = ip, "Running"
        await client.update_status(pod)

    try:
        await until(lambda: proxier.synced_once, "first sync")
        runs, asked = proxier.runner.runs, len(requests)
        for i in range(5):
            await start_pod(f"plain-{i}", f"10.244.1.{10 + i}")
        await until(lambda: len(proxier.netpol.records) == 5, "the five pods' records")
        assert len(proxier.netpol.pods.store) == 5  # only pods with an IP are sent to the proxy
        assert len(requests) == asked  # no NetworkPolicy: the pod starts asked for no sync

        await client.create(NetworkPolicy.from_dict({"metadata": {"name": "deny"}, "spec": {
            "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}}))
        await until(lambda: proxier.runner.runs > runs, "the policy's sync")
        await start_pod("db-0", "10.244.1.30", app="db")
        await until(lambda: any("-d 10.244.1.30/32" in p for p in ipt.payloads), "the isolated pod's jump")
    finally:
        proxier.stop()
        await asyncio.wait_for(task, 10)
