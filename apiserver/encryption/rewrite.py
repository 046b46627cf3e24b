"""Re-encrypting stale values: the storage half of key rotation.

Why the apiserver does it: a value is only re-encrypted when it is written,
and kubelite's update path (like `kctl apply`) skips writes that change
nothing, so "read everything and write it back" through the API would leave
old ciphertext in place. Instead, after start-up the apiserver walks every
prefix the encryption config covers and rewrites each value that was not read
with the first provider/key (encrypted under an older key, or plain JSON from
before encryption was enabled). The write is a compare-and-swap on the value's
mod_revision, so a concurrent update is never lost: if it lost the race, the
winner's write already used the current key. The value's bytes are unchanged;
only its encryption is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from apiserver.etcd import EtcdClient, prefix_end

log = logging.getLogger(__name__)

PAGE = 500


@dataclass
class RewriteResult:
    rewritten: int = 0
    raced: int = 0  # changed concurrently (so already written with the current key)
    unreadable: int = 0  # could not be decrypted; left as they are and logged

    def __str__(self) -> str:
        return f"{self.rewritten} rewritten, {self.raced} changed concurrently, {self.unreadable} unreadable"


async def rewrite_stale(etcd: EtcdClient, prefixes: Iterable[str], page: int = PAGE) -> RewriteResult:
    """Rewrite every stale value under `prefixes` with the current write key (raises ApiError if the store fails)."""
    result = RewriteResult()
    for prefix in prefixes:
        start, end = prefix, prefix_end(prefix.encode())
        while True:
            chunk = await etcd.range(start, end, limit=page)
            for kv in chunk.kvs:
                if kv.error:
                    result.unreadable += 1
                    log.error("cannot re-encrypt stored value", extra={"key": kv.key, "error": kv.error})
                elif kv.stale:
                    txn = await etcd.update(kv.key, kv.value, kv.mod_revision)
                    if txn.succeeded:
                        result.rewritten += 1
                    else:
                        result.raced += 1
            if not chunk.more or not chunk.kvs:
                break
            start = chunk.kvs[-1].key + "\x00"
    return result
