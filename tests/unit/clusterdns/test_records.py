"""Cluster DNS answers as a pure function of Services and Endpoints, and the wire format."""

from __future__ import annotations

import struct

from kubelite.api import Endpoints, Service
from kubelite.clusterdns.records import resolve
from kubelite.clusterdns.wire import (
    TYPE_A,
    TYPE_SRV,
    FormatError,
    Record,
    build_response,
    encode_name,
    parse_query,
)

SVC = {
    ("default", "web"): Service.from_dict({"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "clusterIP": "10.96.3.4", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}),
    ("default", "db"): Service.from_dict({"metadata": {"name": "db", "namespace": "default"}, "spec": {
        "clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "sql", "port": 5432}]}}),
}
EPS = {("default", "db"): Endpoints.from_dict({"metadata": {"name": "db", "namespace": "default"}, "subsets": [
    {"addresses": [{"ip": "10.244.1.5", "hostname": "db-0"}, {"ip": "10.244.2.6", "hostname": "db-1"}],
     "notReadyAddresses": [{"ip": "10.244.3.7"}], "ports": [{"name": "sql", "port": 5432}]}]})}


def ask(name: str, qtype: int = TYPE_A) -> tuple[bool, bool, list[Record]]:
    a = resolve(name, qtype, "cluster.local", lambda ns, n: SVC.get((ns, n)), lambda ns, n: EPS.get((ns, n)))
    return a.known, a.in_zone, a.records


def ips(records: list[Record]) -> list[str]:
    return [".".join(str(b) for b in r.data) for r in records]


def test_cluster_ip_headless_hostnames_srv_and_nxdomain() -> None:
    known, _, recs = ask("web.default.svc.cluster.local")
    assert known and ips(recs) == ["10.96.3.4"]
    assert ips(ask("db.default.svc.cluster.local")[2]) == ["10.244.1.5", "10.244.2.6"]  # ready only
    assert ips(ask("db-1.db.default.svc.cluster.local")[2]) == ["10.244.2.6"]
    srv = ask("_sql._tcp.db.default.svc.cluster.local", TYPE_SRV)[2]
    assert [r.data[6:] for r in srv] == [encode_name("db-0.db.default.svc.cluster.local"),
                                         encode_name("db-1.db.default.svc.cluster.local")]
    assert struct.unpack("!H", srv[0].data[4:6])[0] == 5432
    assert ask("nope.default.svc.cluster.local")[:2] == (False, True)
    assert ask("web.other.svc.cluster.local")[:2] == (False, True)
    assert ask("example.com")[:2] == (False, False)  # never forwarded
    assert ask("default.svc.cluster.local")[0]  # an empty non-terminal exists


def test_wire_roundtrip_and_malformed_packets() -> None:
    query = struct.pack("!HHHHHH", 77, 0x0100, 1, 0, 0, 0) + encode_name("Web.Default.svc.cluster.local") \
        + struct.pack("!HH", TYPE_A, 1)
    q = parse_query(query)
    assert (q.id, q.name, q.qtype) == (77, "web.default.svc.cluster.local", TYPE_A)
    reply = build_response(q, 0, [Record.a(q.name, "10.96.3.4", 5)])
    assert struct.unpack("!HHHH", reply[:8]) == (77, 0x8500, 1, 1)
    assert reply.endswith(bytes([10, 96, 3, 4]))
    for bad in (b"", b"\x00" * 5, query[:-3], struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0)):
        try:
            parse_query(bad)
        except FormatError:
            continue
        raise AssertionError(f"accepted {bad!r}")
