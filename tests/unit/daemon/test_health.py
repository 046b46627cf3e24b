"""The health endpoint every daemon serves."""

from __future__ import annotations

from kubelite.daemon import HealthServer
from kubelite.procs import http_get_status


async def test_healthz_readyz_and_metrics() -> None:
    server = HealthServer("127.0.0.1", 0)
    synced = False
    server.add_check("informers", lambda: None if synced else "not synced yet")
    server.metrics.inc("requests_total", verb="get")
    await server.start()
    try:
        addr = f"127.0.0.1:{server.port}"
        assert await http_get_status(addr, "/healthz") == 200
        assert await http_get_status(addr, "/readyz") == 503
        synced = True
        assert await http_get_status(addr, "/readyz") == 200
        assert await http_get_status(addr, "/metrics") == 200
        assert 'requests_total{verb="get"} 1.0' in server.metrics.render()
        assert await http_get_status(addr, "/nope") == 404
    finally:
        await server.stop()
