"""The restore planner: which iptables-restore transactions turn the kernel's owned chains into a new rule set.

Why a planner: iptables-nft-restore (1.8.9) with `--noflush` costs time
quadratic in the size of one transaction (1,000 services × 10 endpoints in one
payload: ~7 s of CPU; in ten payloads: ~0.5 s), and rewriting unchanged chains
is wasted work. So a sync writes only chains whose text changed, splits big
writes into chunks, and orders the chunks so that traffic never sees a missing
rule:

1. service groups (a KUBE-SVC chain with its KUBE-SEP chains) first, with
   KUBE-MARK-MASQ (which they jump to) ahead of them when it is written — a new
   group is unreachable until KUBE-SERVICES points at it, and a rewritten one is
   replaced atomically with the endpoint chains it jumps to;
2. then the top-level chains (KUBE-SERVICES, ...), which switch traffic over;
3. then stale chains are deleted (each flushed and `-X`ed in the same
   transaction), referrers (KUBE-SVC) before the chains they jump to.

A chain declaration `:CHAIN - [0:0]` in a `--noflush` restore creates or
flushes that chain; chains not mentioned are left alone, which is what makes
the partial write safe.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubelite.proxy.rules import (
    FILTER,
    JUMPS,
    KUBE_MARK_MASQ,
    NAT,
    SEP_PREFIX,
    TOP_CHAINS,
    Jump,
    RuleSet,
    is_owned_chain,
)

ChainKey = tuple[str, str]  # (table, chain)
MAX_CHAINS_PER_RESTORE = 1000


@dataclass
class Transaction:
    """One iptables-restore call: chains to (re)write with their rules, chains to delete."""

    writes: list[ChainKey]
    deletes: list[ChainKey]

    def size(self) -> int:
        return len(self.writes) + len(self.deletes)


@dataclass
class SyncPlan:
    transactions: list[Transaction]
    written: int  # chains rewritten
    deleted: int  # stale chains removed
    texts: dict[ChainKey, str]  # the new rule set's chain texts: the applied state once every transaction succeeded

    @property
    def empty(self) -> bool:
        return not self.transactions


def plan_sync(new: RuleSet, applied: Mapping[ChainKey, str], *, full: bool = False,
              existing: Iterable[ChainKey] = (), max_chains: int = MAX_CHAINS_PER_RESTORE) -> SyncPlan:
    """Plan writing `new` over a kernel that holds `applied` (our last write) plus `existing` owned chains.

    `full` rewrites every chain (first sync after a start, after a failure, and
    periodically): the kernel's content is then not trusted, only its chain list.
    """
    texts = new.texts()
    changed = {key for key, text in texts.items() if full or applied.get(key) != text}
    units: list[list[ChainKey]] = []
    grouped: set[ChainKey] = set()
    for chains in new.groups.values():
        keys = [(NAT, chain) for chain in chains]
        grouped.update(keys)
        unit = [key for key in keys if key in changed]
        if unit:
            units.append(unit)
    top = [key for key in texts if key not in grouped and key in changed]
    stale = {key for key in (*applied, *existing) if key not in texts and is_owned_chain(key[1])}
    # Referrers first: KUBE-SVC chains jump to KUBE-SEP chains, top-level chains to both.
    deletes = sorted(stale, key=lambda k: (k[1] in _TOP, k[1].startswith(SEP_PREFIX), k))

    txs: list[Transaction] = []
    total = sum(len(u) for u in units) + len(top) + len(deletes)
    if total == 0:
        return SyncPlan([], 0, 0, texts)
    if total <= max_chains:
        writes = [key for unit in units for key in unit] + top
        return SyncPlan([Transaction(writes, deletes)], len(writes), len(deletes), texts)
    # Endpoint chains jump to KUBE-MARK-MASQ: on a fresh kernel it must exist before the first group chunk.
    mark = (NAT, KUBE_MARK_MASQ)
    current: list[ChainKey] = []
    if mark in top:
        top.remove(mark)
        current.append(mark)
    for unit in units:
        if current and len(current) + len(unit) > max_chains:
            txs.append(Transaction(current, []))
            current = []
        current.extend(unit)
    if current:
        txs.append(Transaction(current, []))
    first_deletes = deletes[: max(0, max_chains - len(top))]
    txs.append(Transaction(top, first_deletes))
    rest = deletes[len(first_deletes):]
    for i in range(0, len(rest), max_chains):
        txs.append(Transaction([], rest[i:i + max_chains]))
    return SyncPlan([t for t in txs if t.size()], total - len(deletes), len(deletes), texts)


_TOP = frozenset(chain for _, chain in TOP_CHAINS)


def render(tx: Transaction, rules: Mapping[ChainKey, list[str]]) -> str:
    """The iptables-restore payload of one transaction (declarations, rules, deletions per table)."""
    out: list[str] = []
    for table in (FILTER, NAT):
        writes = [chain for t, chain in tx.writes if t == table]
        deletes = [chain for t, chain in tx.deletes if t == table]
        if not writes and not deletes:
            continue
        out.append(f"*{table}")
        out.extend(f":{chain} - [0:0]" for chain in writes)
        out.extend(f":{chain} - [0:0]" for chain in deletes)
        for chain in writes:
            out.extend(rules[(table, chain)])
        out.extend(f"-X {chain}" for chain in deletes)
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def chains_in_save(save_text: str, table: str) -> set[ChainKey]:
    """Owned chains declared in an `iptables-save -t TABLE` output."""
    found: set[ChainKey] = set()
    for line in save_text.splitlines():
        if line.startswith(":"):
            chain = line[1:].split(" ", 1)[0]
            if is_owned_chain(chain):
                found.add((table, chain))
    return found


def jumps_missing(saves: Mapping[str, str], jumps: Iterable[Jump] = JUMPS) -> list[Jump]:
    """The `jumps` that the `iptables-save -t TABLE` outputs in `saves` (by table) do not hold.

    Why from the saves: asking `iptables -C` for each jump was 8 processes on every periodic
    sync (every 30 s on an idle node, most of an idle proxy's CPU); two saves are two, and a
    full sync reads them anyway. Only the built-in chains the jumps live in are parsed. A jump
    the kernel prints otherwise than it was given counts as missing, and `ensure_jump` asks
    `-C` before adding it, so a mismatch costs processes but never adds a second rule."""
    wanted = {(j.table, j.chain) for j in jumps}
    present: set[tuple[str, ...]] = set()
    for table, text in saves.items():
        for line in text.splitlines():
            if line.startswith("-A ") and (table, line[3:].split(" ", 1)[0]) in wanted:
                present.add((table, *shlex.split(line)[1:]))
    return [j for j in jumps if (j.table, j.chain, *j.spec) not in present]


def plan_cleanup(saves: Mapping[str, str], max_chains: int = MAX_CHAINS_PER_RESTORE) -> list[str]:
    """Payloads that remove every owned chain and every rule elsewhere that jumps into one.

    Order: drop the jumps and flush the top-level chains (traffic stops entering
    ours), flush the rest in chunks (no owned chain references another any
    more), then delete in chunks.
    """
    payloads: list[str] = []
    owned_by_table: dict[str, list[str]] = {}
    first: list[str] = []
    for table, text in saves.items():
        owned = sorted(chain for _, chain in chains_in_save(text, table))
        owned_by_table[table] = owned
        unjumps: list[str] = []
        for line in text.splitlines():
            if not line.startswith("-A "):
                continue
            chain = line.split(" ", 2)[1]
            if is_owned_chain(chain):
                continue
            words = shlex.split(line)
            target = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g", "--jump", "--goto")),
                          "")
            if is_owned_chain(target):
                unjumps.append("-D " + line[3:])
        tops = [c for c in owned if c in _TOP]
        if unjumps or tops:
            first += [f"*{table}", *unjumps, *(f":{c} - [0:0]" for c in tops), "COMMIT"]
    if first:
        payloads.append("\n".join(first) + "\n")
    for table, owned in owned_by_table.items():
        rest = [c for c in owned if c not in _TOP]
        for i in range(0, len(rest), max_chains):
            chunk = rest[i:i + max_chains]
            payloads.append("\n".join([f"*{table}", *(f":{c} - [0:0]" for c in chunk), "COMMIT"]) + "\n")
    for table, owned in owned_by_table.items():
        for i in range(0, len(owned), max_chains):
            chunk = owned[i:i + max_chains]
            payloads.append("\n".join([f"*{table}", *(f":{c} - [0:0]" for c in chunk),
                                       *(f"-X {c}" for c in chunk), "COMMIT"]) + "\n")
    return payloads
