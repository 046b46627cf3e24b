"""Who is calling: the verified client certificate of the request being served.

Why a context variable: the gRPC servicer is the only place that sees the
TLS connection, while authentication and authorization decisions belong to
the layers below it (adapter, service, admission). grpc.aio runs every call
in its own task, so a value set when the call starts is visible to exactly
that call's code and nothing else, without threading a context argument
through every typed method.

`None` means the connection carried no verified certificate: plaintext, or
TLS on a listener that does not ask for one (`--listen-without-client-cert`).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import grpc.aio

from kubelite.daemon.tls import PeerIdentity, peer_identity

_CURRENT: ContextVar[PeerIdentity | None] = ContextVar("apiserver_peer", default=None)


def current_peer() -> PeerIdentity | None:
    """The verified certificate identity (CN = user, O = groups) of the call being served."""
    return _CURRENT.get()


def enter_call(context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Record the calling peer for this call's task (the servicer calls it first thing)."""
    _CURRENT.set(peer_identity(context))
