"""Which records a cluster name has: a pure function of the cached Services and Endpoints.

Kubernetes' DNS schema, as CoreDNS's kubernetes plugin serves it:
- `<svc>.<ns>.svc.<domain>` A -> the ClusterIP; for a headless Service, every
  ready endpoint address;
- `<hostname>.<svc>.<ns>.svc.<domain>` A -> that endpoint (headless; StatefulSet pods);
- `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV -> the named port, on the
  Service name (or each endpoint's hostname for headless);
- anything else under the domain is NXDOMAIN, names outside it are refused
  (nothing is forwarded: the cluster DNS answers only for the cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubelite.api import Endpoints, Service
from kubelite.clusterdns.wire import TYPE_A, TYPE_ANY, TYPE_SRV, Record

TTL = 5


@dataclass(frozen=True)
class Answer:
    known: bool  # False -> NXDOMAIN
    in_zone: bool  # False -> REFUSED (not ours to answer)
    records: list[Record]


def _endpoint_ips(ep: Endpoints | None) -> list[tuple[str, str | None]]:
    if ep is None:
        return []
    seen: dict[str, str | None] = {}
    for subset in ep.subsets:
        for a in subset.addresses:
            seen.setdefault(a.ip, a.hostname)
    return sorted(seen.items())


def resolve(name: str, qtype: int, domain: str, service: Callable[[str, str], Service | None],
            endpoints: Callable[[str, str], Endpoints | None]) -> Answer:
    suffix = "." + domain
    if not name.endswith(suffix) and name != domain:
        return Answer(False, False, [])
    labels = name[: -len(suffix)].split(".") if name != domain else []
    # Every prefix of an existing name exists too (empty non-terminals answer NOERROR, no records).
    if len(labels) < 3 or labels[-1] != "svc":
        return Answer(len(labels) <= 1 or (len(labels) == 2 and labels[-1] == "svc"), True, [])
    svc_name, ns = labels[-3], labels[-2]
    svc = service(ns, svc_name)
    if svc is None:
        return Answer(False, True, [])
    base = f"{svc_name}.{ns}.svc.{domain}"
    headless = svc.spec.cluster_ip == "None"
    rest = labels[:-3]
    if not rest:
        records: list[Record] = []
        if qtype in (TYPE_A, TYPE_ANY):
            if headless:
                records = [Record.a(name, ip, TTL) for ip, _ in _endpoint_ips(endpoints(ns, svc_name))]
            elif svc.spec.cluster_ip:
                records = [Record.a(name, svc.spec.cluster_ip, TTL)]
        return Answer(True, True, records)
    if len(rest) == 1 and headless:
        for ip, hostname in _endpoint_ips(endpoints(ns, svc_name)):
            if hostname == rest[0] or ip.replace(".", "-") == rest[0]:
                return Answer(True, True, [Record.a(name, ip, TTL)] if qtype in (TYPE_A, TYPE_ANY) else [])
        return Answer(False, True, [])
    if len(rest) == 2 and rest[0].startswith("_") and rest[1].startswith("_"):
        port_name, proto = rest[0][1:], rest[1][1:].upper()
        ports = [p for p in svc.spec.ports if (p.name or "") == port_name and (p.protocol or "TCP") == proto]
        if not ports:
            return Answer(False, True, [])
        if qtype not in (TYPE_SRV, TYPE_ANY):
            return Answer(True, True, [])
        port = ports[0].port
        if headless:
            targets = [f"{h or ip.replace('.', '-')}.{base}" for ip, h in _endpoint_ips(endpoints(ns, svc_name))]
        else:
            targets = [base]
        return Answer(True, True, [Record.srv(name, 0, 100 // max(len(targets), 1), port, t, TTL)
                                   for t in targets])
    return Answer(False, True, [])
