"""`kctl port-forward TYPE/NAME [LOCAL:]REMOTE...`: local ports relayed to a pod through the apiserver.

Why through the apiserver and not straight to the pod IP: the host need not route into the
cluster network, and access is checked like kubectl's (`create pods/portforward`). Each
accepted local TCP connection becomes one `Resources.PortForward` call, which the apiserver
relays to the kubelet of the pod's node; the kubelet connects to the port inside the pod's
network namespace. A failed connection (nothing listens on the port) is reported and closes
that one local connection; the forward goes on, as kubectl's does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from kubectl.commands.logs import resolve_pod
from kubectl.errors import CliError
from kubectl.output import warn, write
from kubectl.portforwardplan import Forward, listen_hosts, parse_specs, pod_forwards, service_forwards, shown
from kubectl.printers import dig
from kubectl.resources import resolve_kind
from kubectl.session import Obj, Session
from kubelite.api.durations import duration
from kubelite.api.errors import ApiError, Expired, Forbidden, NotFound
from kubelite.api.rbac import SELF_SUBJECT_ACCESS_REVIEWS
from kubelite.client.transport import closing_stream

READ_CHUNK = 32 * 1024
RUNNING_POLL = 1.0  # seconds between looks at a pod that is not running yet

EXAMPLES = """\
Examples:
  # Listen on ports 5000 and 6000 locally, forwarding to the same ports of the pod
  kctl port-forward pod/mypod 5000 6000

  # Listen on local port 8888, forwarding to port 5000 of a pod of the deployment
  kctl port-forward deployment/mydeployment 8888:5000

  # Listen on port 8443 locally, forwarding to the targetPort of the service's port named "https"
  kctl port-forward service/myservice 8443:https

  # Listen on a free local port (printed), forwarding to port 5000 in the pod
  kctl port-forward pod/mypod :5000

  # Listen on all addresses, or on localhost and a given one
  kctl port-forward --address 0.0.0.0 pod/mypod 8888:5000
  kctl port-forward --address localhost,10.19.21.23 pod/mypod 8888:5000
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("port-forward", parents=parents, help="forward local ports to a pod",
                       description="kctl port-forward TYPE/NAME [LOCAL_PORT:]REMOTE_PORT "
                                   "[...[LOCAL_PORT_N:]REMOTE_PORT_N] [--address ADDR,...]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TYPE/NAME", help="pod/NAME (or NAME), deploy/NAME, svc/NAME, ...")
    p.add_argument("ports", nargs="+", metavar="[LOCAL:]REMOTE")
    p.add_argument("--address", action="append", default=[],
                   help="addresses to listen on, comma-separated (default localhost: 127.0.0.1 and ::1)")
    p.add_argument("--pod-running-timeout", type=duration, default=60.0,
                   help="how long to wait for the pod to be running, e.g. 30s, 2m (default 1m)")
    p.set_defaults(func=run)


async def _target(session: Session, target: str, specs_text: list[str],
                  running_timeout: float) -> tuple[Obj, list[Forward]]:
    """The running pod to forward to (waiting up to `running_timeout` for one, like kubectl) and its
    forwards (Service ports mapped to container ports)."""
    specs = parse_specs(specs_text)
    deadline = time.monotonic() + running_timeout
    while True:
        pod = await resolve_pod(session, target)
        phase = dig(pod, "status", "phase")
        if phase == "Running":
            break
        if phase in ("Succeeded", "Failed") or time.monotonic() >= deadline:
            raise CliError(f"unable to forward port because pod is not running. Current status={phase or 'Unknown'}")
        await asyncio.sleep(RUNNING_POLL)
    kind, _, name = target.rpartition("/")
    if kind and resolve_kind(kind).kind == "Service":
        service = await session.get(resolve_kind("services"), name)
        return pod, service_forwards(service, pod, specs)
    return pod, pod_forwards(pod, specs)


async def _check_allowed(session: Session, namespace: str, pod: str) -> None:
    """Fail at once, as kubectl does, when the user may not forward (the apiserver still checks
    every connection; when it cannot be asked, that check is the only one)."""
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {
        "resourceAttributes": {"verb": "create", "resource": "pods", "subresource": "portforward",
                               "namespace": namespace, "name": pod}}}
    try:
        answer = await session.client.create_review(SELF_SUBJECT_ACCESS_REVIEWS, review)
    except ApiError:
        return
    if not (answer.get("status") or {}).get("allowed"):
        raise Forbidden(f'pods "{pod}" is forbidden: you cannot create resource "pods/portforward" '
                        f'in API group "" in the namespace "{namespace}"')


async def _until_lost(session: Session, pod: Obj) -> str:
    """Watch the pod; the reason once it no longer runs (deleted, replaced, finished)."""
    info = resolve_kind("pods")
    namespace, name = str(dig(pod, "metadata", "namespace") or session.namespace), str(dig(pod, "metadata", "name"))
    uid = dig(pod, "metadata", "uid")
    current: Obj = pod
    while True:
        if dig(current, "metadata", "uid") != uid:
            return f"pod {name} was replaced"
        if dig(current, "metadata", "deletionTimestamp") or dig(current, "status", "phase") != "Running":
            return f"pod {name} is {'terminating' if dig(current, 'metadata', 'deletionTimestamp') else 'not running'}"
        try:
            events = session.watch(info, namespace, str(dig(current, "metadata", "resourceVersion") or ""),
                                   field_selector=f"metadata.name={name}")
            async with closing_stream(events) as stream:
                async for kind, obj in stream:
                    if kind == "DELETED":
                        return f"pod {name} was deleted"
                    current = obj
                    if dig(obj, "metadata", "deletionTimestamp") or dig(obj, "status", "phase") != "Running":
                        break
                else:
                    current = await session.get(info, name, namespace)  # the watch ended: read afresh
        except Expired:
            current = await session.get(info, name, namespace)
        except NotFound:
            return f"pod {name} was deleted"


class Forwarder:
    """The listeners of one `kctl port-forward` and the relay of each connection they accept."""

    def __init__(self, session: Session, namespace: str, pod: str) -> None:
        self.session = session
        self.namespace = namespace
        self.pod = pod
        self.servers: list[asyncio.Server] = []

    async def listen(self, hosts: list[str], forward: Forward) -> list[str]:
        """Listen for `forward` on every host (a free port, the same on all, when its local port is 0);
        the `Forwarding from ...` lines. Hosts but the first may fail (no IPv6), not all."""
        port = forward.local
        lines: list[str] = []
        errors: list[str] = []

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.relay(reader, writer, forward)

        for host in hosts:
            try:
                server = await asyncio.start_server(
                    accepted, host, port,
                    family=socket.AF_INET6 if ":" in host else socket.AF_INET, reuse_address=True)
            except OSError as exc:
                errors.append(f"unable to listen on {shown(host)}:{port or 'a free port'}: {exc.strerror or exc}")
                continue
            self.servers.append(server)
            port = int(server.sockets[0].getsockname()[1])
            lines.append(f"Forwarding from {shown(host)}:{port} -> {forward.remote}")
        if not lines:
            raise CliError(f"unable to listen on any of the requested ports: {'; '.join(errors)}")
        return lines

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, forward: Forward) -> None:
        """One local connection <-> one PortForward call; its failure ends only this connection."""
        local = writer.get_extra_info("sockname")[1]
        write(f"Handling connection for {local}\n")

        async def outgoing() -> AsyncIterator[bytes]:
            while True:
                try:
                    chunk = await reader.read(READ_CHUNK)
                except OSError:
                    return
                if not chunk:
                    return
                yield chunk

        try:
            incoming = self.session.client.port_forward(self.namespace, self.pod, forward.remote, outgoing())
            async with aclosing(incoming) as stream:
                async for data in stream:
                    writer.write(data)
                    await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except ApiError as err:
            warn(f"error: an error occurred forwarding {local} -> {forward.remote}: {err.message}")
        except OSError:
            pass  # the local client went away
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()


async def run(session: Session, args: argparse.Namespace) -> int:
    pod, forwards = await _target(session, args.target, list(args.ports), args.pod_running_timeout)
    hosts = listen_hosts(args.address or ["localhost"])
    args.streaming = True  # Ctrl-C is the normal way out: exit 0
    forwarder = Forwarder(session, str(dig(pod, "metadata", "namespace") or session.namespace),
                          str(dig(pod, "metadata", "name")))
    await _check_allowed(session, forwarder.namespace, forwarder.pod)
    lost: asyncio.Task[str] | None = None
    try:
        for forward in forwards:
            for line in await forwarder.listen(hosts, forward):
                write(line + "\n")
        lost = asyncio.create_task(_until_lost(session, pod))
        reason = await lost  # or Ctrl-C
    finally:
        if lost is not None:
            lost.cancel()
        await forwarder.close()
    raise CliError(f"lost connection to pod: {reason}")
