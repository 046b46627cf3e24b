"""Which TCP ports a running cluster's daemons listen on, and whether each speaks TLS.

Why from /proc: a daemon's sockets are the `socket:[inode]` links in /proc/PID/fd,
and /proc/PID/net/tcp{,6} lists the sockets of the network namespace that
process lives in (a node's, for kubelets and proxies), so matching the two gives
every listening address of exactly the cluster's processes, wherever they run.
A TLS check then connects from inside that namespace (kubelite.nsconnect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from kubelite import nsconnect

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class Listener:
    process: str
    pid: int
    ip: str
    port: int

    @property
    def loopback_only(self) -> bool:
        return ipaddress.ip_address(self.ip).is_loopback


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _address(hex_addr: str) -> tuple[str, int]:
    ip_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(ip_hex)
    # The kernel prints each 32-bit word in host (little-endian) order.
    ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(ordered)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port_hex, 16)


def listeners(name: str, pid: int) -> list[Listener]:
    """The TCP listening sockets process `pid` holds, with the address each is bound to."""
    mine = _socket_inodes(pid)
    out = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in mine:
                ip, port = _address(fields[1])
                out.append(Listener(name, pid, ip, port))
    return out


async def speaks_tls(listener: Listener, timeout: float = 5.0) -> bool:
    """True when a TLS handshake to the listener succeeds, connecting from inside its namespace."""
    host = listener.ip
    if ipaddress.ip_address(host).is_unspecified:
        host = "127.0.0.1" if ipaddress.ip_address(host).version == 4 else "::1"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only whether it is TLS at all; who it is, is tested elsewhere
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    reader, writer = await nsconnect.open_connection(f"/proc/{listener.pid}/ns/net", host, listener.port, timeout)
    try:
        await asyncio.wait_for(writer.start_tls(ctx), timeout)
        return True
    except (ssl.SSLError, OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def tls_answers(found: list[Listener], timeout: float = 5.0) -> dict[Listener, bool]:
    """`speaks_tls` of every listener in `found`, checked concurrently.

    Why concurrently: a plain HTTP listener holds a TLS ClientHello until `timeout` (it waits for
    the rest of a request), so checking the plain health endpoints one by one cost `timeout` each."""
    answers = await asyncio.gather(*(speaks_tls(s, timeout) for s in found))
    return dict(zip(found, answers, strict=True))
