"""The shared control-plane fixture: an in-process kvstore + apiserver on free ports.

Every package's integration tests build on this (`control_plane` fixture in
conftest.py): a real etcd-v3 kvstore with its data in tmp_path, a real
apiserver over it, and an ApiClient speaking gRPC to that apiserver — the same
path production clients take.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from apiserver.server import ApiServer
from kubelite.client import ApiClient
from kvstore.server import KVStore


@dataclass
class ControlPlane:
    kvstore: KVStore
    apiserver: ApiServer
    server: str  # "127.0.0.1:PORT" of the apiserver
    client: ApiClient  # gRPC client connected to `server`

    async def restart_apiserver(self) -> None:
        """Stop the apiserver and start a fresh one on the same port (state comes back from the kvstore)."""
        await self.apiserver.stop()
        self.apiserver = ApiServer([self.kvstore.endpoint], self.server)
        await self.apiserver.start()

    async def restart_kvstore(self) -> None:
        """Stop the kvstore and start it again on the same port and data dir (the apiserver reconnects)."""
        port, data_dir, name = self.kvstore.client_port, self.kvstore.data_dir, self.kvstore.name
        await self.kvstore.stop()
        self.kvstore = KVStore(data_dir, listen_client=f"127.0.0.1:{port}", name=name)
        await self.kvstore.start()


@asynccontextmanager
async def running_control_plane(tmp_path: Path, **apiserver_options: float) -> AsyncIterator[ControlPlane]:
    """Start kvstore + apiserver (ready, system namespaces created); stop everything on exit.

    Tests may replace `plane.kvstore` / `plane.apiserver` (restarts); whatever
    is current at exit is what gets stopped.
    """
    kv = KVStore(tmp_path / "kvstore", listen_client="127.0.0.1:0", name="kv-1")
    await kv.start()
    try:
        api = ApiServer([kv.endpoint], "127.0.0.1:0", **apiserver_options)  # type: ignore[arg-type]
        try:
            await api.start()
        except BaseException:
            await api.stop()
            raise
    except BaseException:
        await kv.stop()
        raise
    plane = ControlPlane(kv, api, api.endpoint, ApiClient.connect(api.endpoint))
    try:
        yield plane
    finally:
        try:
            await plane.client.close()
            await plane.apiserver.stop()
        finally:
            await plane.kvstore.stop()
