"""The cluster DNS server: UDP and TCP on one address, answers from informer caches.

Why informers: every lookup is a dict read of cached Services/Endpoints, so
answers never wait for the apiserver and a thousand queries cost no API calls;
a Service created a moment ago resolves as soon as its watch event arrives.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from kubelite.api import Endpoints, Service
from kubelite.client import ApiClient, Informer
from kubelite.clusterdns.records import resolve
from kubelite.clusterdns.wire import (
    CLASS_IN,
    RCODE_FORMERR,
    RCODE_NOTIMP,
    RCODE_NXDOMAIN,
    RCODE_OK,
    RCODE_REFUSED,
    RCODE_SERVFAIL,
    FormatError,
    Record,
    build_response,
    error_id,
    parse_query,
    truncated,
)
from kubelite.daemon import Metrics

log = logging.getLogger(__name__)


class ClusterDns:
    def __init__(self, client: ApiClient, host: str, port: int, domain: str = "cluster.local",
                 metrics: Metrics | None = None) -> None:
        self.client = client
        self.host, self.port = host, port
        self.domain = domain.strip(".").lower()
        self.metrics = metrics or Metrics()
        self.services: Informer[Service] = Informer(client, Service)
        self.endpoints: Informer[Endpoints] = Informer(client, Endpoints)
        self._tasks: list[asyncio.Task[None]] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def synced(self) -> bool:
        return self.services.has_synced and self.endpoints.has_synced

    def ready_check(self) -> str | None:
        return None if self.synced else "informers not synced"

    def answer(self, packet: bytes) -> bytes:
        """One query in, one response out; never raises."""
        try:
            q = parse_query(packet)
        except FormatError:
            self.metrics.inc("dns_queries_total", help_text="DNS queries by result", rcode="FORMERR")
            return build_response(None, RCODE_FORMERR, [], ident=error_id(packet))
        records: list[Record] = []
        try:
            if q.flags & 0x7800:  # opcode other than QUERY
                rcode, records = RCODE_NOTIMP, []
            elif q.qclass != CLASS_IN:
                rcode, records = RCODE_REFUSED, []
            elif not self.synced:
                rcode, records = RCODE_SERVFAIL, []
            else:
                ans = resolve(q.name, q.qtype, self.domain,
                              lambda ns, n: self.services.store.get(f"{ns}/{n}"),
                              lambda ns, n: self.endpoints.store.get(f"{ns}/{n}"))
                rcode = RCODE_OK if ans.known else (RCODE_NXDOMAIN if ans.in_zone else RCODE_REFUSED)
                records = ans.records
        except Exception:
            log.exception("failed to answer", extra={"qname": q.name})
            rcode, records = RCODE_SERVFAIL, []
        self.metrics.inc("dns_queries_total", help_text="DNS queries by result",
                         rcode={0: "NOERROR", 3: "NXDOMAIN", 5: "REFUSED"}.get(rcode, str(rcode)))
        return build_response(q, rcode, records)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for inf in (self.services, self.endpoints):
            self._tasks.append(asyncio.create_task(inf.run(), name=f"dns-informer-{inf!r}"))
        server = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = server.answer(data)
                if len(reply) > 512:  # the classic UDP limit: clients retry over TCP
                    try:
                        reply = truncated(reply, len(parse_query(data).raw_question))
                    except FormatError:
                        return
                self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

        transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, self.port))
        self._udp = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = self.answer(await reader.readexactly(size))
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
