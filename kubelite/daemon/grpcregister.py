"""Registering a generated gRPC service on a `grpc.aio` server through its generic handler only.

Why: the code `grpcio-tools` generates (`add_XServicer_to_server`) registers each service twice,
as a generic handler and as "registered methods". For registered methods the aio server keeps one
pending request future per method and, for every incoming call, runs
`asyncio.wait(<all those futures>, FIRST_COMPLETED)`: it adds and removes a done-callback on each
of them (the kvstore serves 26 methods), and builds a set and the `any(iscoroutine(...))` check
over it. cProfile of a kvstore member serving puts at 64 in flight put that at 23 % of the
member's CPU. Registered through the generic handler alone, the server waits on one future and
finds a call's handler with a dict lookup. The apiserver already registers generic handlers only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc


class _GenericOnly:
    """The part of a `grpc.aio.Server` the generated `add_XServicer_to_server` calls: the generic
    handler goes through, the registered-method table is left empty."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Nothing: the generic handler serves the same methods (module doc)."""


def add_service(add: Callable[[Any, Any], None], servicer: object, server: grpc.aio.Server) -> None:
    """`add(servicer, server)` with `add` a generated `add_XServicer_to_server`, through the
    generic handler only."""
    add(servicer, _GenericOnly(server))
