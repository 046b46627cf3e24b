"""An apiserver serving the Kubernetes HTTP API beside gRPC, over a `kubelite kvstore` OS process.

Why one place: every test that drives the HTTP API with real clients (the Python
`kubernetes` client, kubectl, raw requests) starts the same pair and must stop both,
whatever the test does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from apiserver.server import ApiServer
from tests.integration.kvstore.kvproc import KVProcess


@asynccontextmanager
async def running_http_apiserver(tmp_path: Path, **options: Any) -> AsyncIterator[ApiServer]:
    """A started apiserver with `http_listen` on a free loopback port (`.http.url`), over a kvstore
    process whose data and log live in `tmp_path`; `options` go to `ApiServer`."""
    kv = KVProcess(tmp_path / "kv", tmp_path / "kv.log").start()
    server = ApiServer([kv.endpoint], "127.0.0.1:0", http_listen="127.0.0.1:0", **options)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        kv.terminate()
