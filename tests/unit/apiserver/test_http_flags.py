"""`kubelite apiserver` HTTP flags: plain HTTP only on loopback, TLS files go together."""

from __future__ import annotations

import pytest

from apiserver.main import parse_args


def test_http_listen_loopback_only() -> None:
    assert parse_args(["--http-listen", "127.0.0.1:8080"]).http_listen == "127.0.0.1:8080"
    assert parse_args([]).http_listen == ""
    for bad in (["--http-listen", "0.0.0.0:8080"], ["--secure-port", "6443"],
                ["--tls-cert-file", "x"], ["--http-listen", "nonsense"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
