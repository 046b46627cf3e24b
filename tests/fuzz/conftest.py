"""The session's fuzz target (kvstore + apiserver with gRPC and HTTPS), built on the shared
integration control-plane fixture; Hypothesis keeps its files out of the repository."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from apiserver.http import server_ssl_context
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path, key_path
from tests.fuzz.harness import NAMESPACE, POLICY_NAMESPACE, SEED, Target
from tests.integration.controlplane import running_control_plane

# Hypothesis caches (its unicode tables) go to one directory under /tmp, reused by later runs, never to
# `.hypothesis/` in the repository; no example database is kept at all (harness.fuzz).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "kubelite-hypothesis")


@pytest.fixture(scope="session")
async def target(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"fuzz seed: KUBELITE_FUZZ_SEED={SEED}")
    root = tmp_path_factory.mktemp("fuzz")
    certs = root / "pki"
    pki.ensure(certs, pki.cluster_specs([], []))
    server_tls = server_ssl_context(str(cert_path(certs, "apiserver")), str(key_path(certs, "apiserver")))
    client_tls = ssl.create_default_context(cafile=str(cert_path(certs, "ca")))
    async with running_control_plane(root, http_listen="127.0.0.1:0", http_ssl=server_tls) as plane:  # type: ignore[arg-type]
        for ns in (NAMESPACE, POLICY_NAMESPACE):
            await plane.client.create_raw("namespaces", {"metadata": {"name": ns}})
        async with aiohttp.ClientSession() as session:
            yield Target(plane, plane.apiserver.http.url, client_tls, session)
