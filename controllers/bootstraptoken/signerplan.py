"""What cluster-info should hold: its kubeconfig plus one `jws-kubeconfig-<id>` per signing token.

Pure so the decision (which tokens sign, when to rewrite) is tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from kubelite.api import bootstraptoken as bt
from kubelite.api.clusterinfo import KUBECONFIG_KEY


def signed_data(data: Mapping[str, str], tokens: Iterable[bt.BootstrapToken], now: datetime) -> dict[str, str]:
    """`data` with its signatures replaced by those of every valid, unexpired signing token.

    A signature that is still correct is kept as is; signatures of tokens that
    are gone, expired or no longer for signing are dropped. No kubeconfig:
    nothing to sign, every signature dropped.
    """
    out = {k: v for k, v in data.items() if not k.startswith(bt.JWS_KEY_PREFIX)}
    payload = data.get(KUBECONFIG_KEY)
    if payload is None:
        return out
    for token in tokens:
        if token.problems or "signing" not in token.usages or token.expired(now):
            continue
        key = bt.JWS_KEY_PREFIX + token.id
        current = data.get(key, "")
        out[key] = current if current and bt.verify_detached(current, payload, token.token) \
            else bt.sign_detached(payload, token.token)
    return out
