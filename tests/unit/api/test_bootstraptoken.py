"""Bootstrap tokens: format, Secret round trip, expiry, and the detached JWS over cluster-info."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from kubelite.api import Secret
from kubelite.api import bootstraptoken as bt
from kubelite.api.defaults import apply_defaults

NOW = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
TOKEN = "abcdef.0123456789abcdef"


def stored(secret: Secret) -> Secret:
    """What the apiserver stores: stringData folded into base64 data."""
    copy = secret.copy_deep()
    apply_defaults(copy)
    return copy


def test_generated_tokens_have_kubernetes_format_and_differ() -> None:
    tokens = {bt.generate() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert bt.TOKEN_RE.match(token)


@pytest.mark.parametrize("bad", ["abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdefg",
                                 "abcdef.0123456789abcde", "abcdef.0123456789abcdef.x", ""])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(bt.TokenError, match="not of the form"):
        bt.parse_token(bad)


def test_secret_round_trip_keeps_every_field() -> None:
    token = bt.new_token(NOW, timedelta(hours=24), "for node-2", token=TOKEN)
    secret = stored(bt.to_secret(token))
    assert secret.metadata.name == "bootstrap-token-abcdef" and secret.metadata.namespace == "kube-system"
    assert secret.type == "bootstrap.kubernetes.io/token"
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    assert data == {"token-id": "abcdef", "token-secret": "0123456789abcdef", "expiration": "2026-12-07T08:00:00Z",
                    "description": "for node-2", "usage-bootstrap-authentication": "true",
                    "usage-bootstrap-signing": "true",
                    "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}
    back = bt.from_secret(secret)
    assert back == token and not back.problems
    assert back.user == "system:bootstrap:abcdef"
    assert back.groups == ("system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token")


def test_expiry_and_usage_decide_authentication() -> None:
    token = bt.new_token(NOW, timedelta(minutes=10), token=TOKEN)
    assert bt.authenticates(token, TOKEN, NOW + timedelta(minutes=9))
    assert not bt.authenticates(token, TOKEN, NOW + timedelta(minutes=10))
    assert not bt.authenticates(token, "abcdef.0123456789abcdee", NOW)
    signing_only = bt.new_token(NOW, None, usages=("signing",), token=TOKEN)
    assert not bt.authenticates(signing_only, TOKEN, NOW)
    forever = bt.new_token(NOW, None, token=TOKEN)
    assert forever.expiration is None and bt.authenticates(forever, TOKEN, NOW + timedelta(days=3650))


def test_inconsistent_secret_authenticates_nobody() -> None:
    secret = stored(bt.to_secret(bt.new_token(NOW, None, token=TOKEN)))
    secret.metadata.name = "bootstrap-token-zzzzzz"
    found = bt.from_secret(secret)
    assert found is not None and "does not match the Secret name" in found.problems[0]
    assert not bt.authenticates(found, TOKEN, NOW)
    bad_time = bt.to_secret(bt.new_token(NOW, None, token=TOKEN))
    bad_time.string_data["expiration"] = "tomorrow"
    found = bt.from_secret(bad_time)
    assert found is not None and any("RFC 3339" in p for p in found.problems)
    assert bt.from_secret(Secret.from_dict({"metadata": {"name": "other"}, "type": "Opaque"})) is None


def test_extra_groups_must_be_bootstrapper_groups() -> None:
    with pytest.raises(bt.TokenError, match="auth-extra-groups"):
        bt.new_token(NOW, None, extra_groups=("system:masters",))
    with pytest.raises(bt.TokenError, match="usages"):
        bt.new_token(NOW, None, usages=("root",))


def test_detached_jws_matches_kubernetes_shape_and_verifies() -> None:
    payload = "apiVersion: v1\nkind: Config\n"
    jws = bt.sign_detached(payload, TOKEN)
    header, empty, signature = jws.split(".")
    assert empty == "" and signature
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "kid": "abcdef"}
    assert bt.verify_detached(jws, payload, TOKEN)
    assert not bt.verify_detached(jws, payload + " ", TOKEN)  # tampered kubeconfig
    assert not bt.verify_detached(jws, payload, "abcdef.0123456789abcdee")  # another cluster's token
    assert not bt.verify_detached(jws, payload, "zzzzzz.0123456789abcdef")  # kid mismatch
    assert not bt.verify_detached("garbage", payload, TOKEN)
