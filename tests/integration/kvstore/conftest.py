"""Fixtures shared by the kvstore integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.pki import cluster as pki


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cluster PKI (cluster CA, kvstore CA, members' serving and peer certificates) for one module."""
    d = tmp_path_factory.mktemp("pki")
    pki.ensure(d, pki.cluster_specs([], []))
    return d
