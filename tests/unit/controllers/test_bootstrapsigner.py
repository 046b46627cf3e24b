"""The bootstrap signer's plan: which tokens sign cluster-info, and which signatures are dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controllers.bootstraptoken.signerplan import signed_data
from kubelite.api import bootstraptoken as bt

NOW = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"


def token(text: str, **kw: object) -> bt.BootstrapToken:
    return bt.new_token(NOW, kw.pop("ttl", None), token=text, **kw)  # type: ignore[arg-type]


def test_signing_tokens_sign_and_others_do_not() -> None:
    signing = token("aaaaaa.0123456789abcdef")
    auth_only = token("bbbbbb.0123456789abcdef", usages=("authentication",))
    expired = token("cccccc.0123456789abcdef", ttl=timedelta(minutes=1))
    data = signed_data({"kubeconfig": KUBECONFIG, "jws-kubeconfig-zzzzzz": "stale..sig"},
                       [signing, auth_only, expired], NOW + timedelta(minutes=2))
    assert set(data) == {"kubeconfig", "jws-kubeconfig-aaaaaa"}
    assert bt.verify_detached(data["jws-kubeconfig-aaaaaa"], KUBECONFIG, signing.token)


def test_a_correct_signature_is_kept_and_a_changed_kubeconfig_resigned() -> None:
    signing = token("aaaaaa.0123456789abcdef")
    first = signed_data({"kubeconfig": KUBECONFIG}, [signing], NOW)
    assert signed_data(first, [signing], NOW) == first
    changed = {**first, "kubeconfig": KUBECONFIG + "# moved\n"}
    again = signed_data(changed, [signing], NOW)
    assert bt.verify_detached(again["jws-kubeconfig-aaaaaa"], changed["kubeconfig"], signing.token)


def test_no_kubeconfig_means_no_signatures() -> None:
    assert signed_data({"jws-kubeconfig-aaaaaa": "x..y"}, [token("aaaaaa.0123456789abcdef")], NOW) == {}
