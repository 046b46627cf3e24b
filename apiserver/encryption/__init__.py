"""Encryption at rest for stored objects (Kubernetes' `--encryption-provider-config`).

The apiserver encrypts the values of the configured resources (Secrets, by
default under `kubelite up`) just before they go to the kvstore and decrypts
them as they come back (`apiserver.etcd.EtcdClient` applies the
`StorageTransformers` to every put, range, txn and watch event), so the
service, the watch cache and every watcher only ever see plain objects, and
`etcdctl get /registry/secrets/<ns>/<name>` shows `k8s:enc:aesgcm:v1:<key>:`
followed by nonce and ciphertext. The format is Kubernetes' (`providers.py`);
the file format and its validation are in `config.py`.

Why here and not in the service: the storage key is the AES-GCM additional
data, and only the storage layer knows keys and raw values; above it nothing
has to know encryption exists.

Key rotation (every listed key decrypts, the first provider's first key encrypts):

1. Add the new key to the provider's `keys` as the SECOND entry and restart
   every apiserver, so all of them can read values written with it.
2. Move the new key to the FIRST entry and restart the apiservers again. At
   start-up each apiserver rewrites every value that was read with anything
   but the first key (`rewrite.py`; it logs "re-encrypted stored values" with
   counts). There is no `kctl replace`, and `kctl apply` skips unchanged
   objects, so rewriting through the API would not re-encrypt anything.
3. When that log line reports 0 unreadable values, remove the old key and
   restart once more.

Turning encryption on for an existing cluster is the same step 2 with
`identity: {}` listed after the new key: old plain values are read by
identity and rewritten encrypted. To turn it off, put `identity: {}` first
(keeping the keys after it), restart, then drop the keys.
"""

from apiserver.encryption.config import (
    EncryptionConfigError,
    ensure_config_file,
    load_config,
    new_config_text,
    parse_config,
)
from apiserver.encryption.providers import DecryptError, ProviderChain, StorageTransformers
from apiserver.encryption.rewrite import RewriteResult, rewrite_stale

__all__ = [
    "DecryptError",
    "EncryptionConfigError",
    "ProviderChain",
    "RewriteResult",
    "StorageTransformers",
    "ensure_config_file",
    "load_config",
    "new_config_text",
    "parse_config",
    "rewrite_stale",
]
