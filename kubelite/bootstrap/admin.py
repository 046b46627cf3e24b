"""An admin client of the local cluster (the `system:masters` certificate from `<data>/pki`).

Why one helper: `kubelite token` and cluster-info publishing talk to the
apiserver as the admin exactly as `up`'s own waits do; the server address and
the credentials come from the data directory `up` wrote.
"""

from __future__ import annotations

from pathlib import Path

from kubelite.client import ApiClient
from kubelite.localcluster import load_state, pki_dir
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path


class NoClusterError(RuntimeError):
    """No running cluster in the data directory (message says where it looked)."""


def admin_client(data_dir: Path) -> ApiClient:
    try:
        server, _ = load_state(data_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise NoClusterError(f"no cluster state in {data_dir} (start one with `kubelite up`): {exc}") from None
    certs = pki_dir(data_dir)
    if not cert_path(certs, pki.ADMIN).exists():
        raise NoClusterError(f"no admin certificate in {certs}")
    return ApiClient.connect(server, credentials=pki.admin_tls(certs).credentials())
