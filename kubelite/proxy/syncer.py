"""RuleSyncer: the kernel side of a sync — plan against what was applied, restore, keep the jumps in place.

Why separate from the Proxier: it is the part that owns "what the kernel holds"
(the last applied chain texts, whether that knowledge can be trusted), and the
benchmark drives it directly with a synthetic rule set.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kubelite.proxy.iptables import IptablesLike
from kubelite.proxy.plan import ChainKey, SyncPlan, chains_in_save, jumps_missing, plan_sync, render
from kubelite.proxy.rules import FILTER, NAT, RuleSet

log = logging.getLogger("proxy.syncer")


@dataclass
class SyncResult:
    plan: SyncPlan
    full: bool
    restore_bytes: int
    restore_seconds: float
    jumps_added: int


class RuleSyncer:
    def __init__(self, iptables: IptablesLike, full_sync_period: float = 3600.0) -> None:
        self.iptables = iptables
        self.full_sync_period = full_sync_period
        self.applied: dict[ChainKey, str] = {}
        self.need_full = True  # nothing is known about the kernel until the first full sync
        self._last_full = -float("inf")

    async def saves(self) -> dict[str, str]:
        """`iptables-save` of both tables: the owned chains that exist in the kernel now (to find
        stale ones left by an earlier run) and the jumps from the built-in chains."""
        return {table: await self.iptables.save(table) for table in (NAT, FILTER)}

    async def apply(self, rules: RuleSet, *, verify_jumps: bool = False, full: bool = False) -> SyncResult:
        """Make the kernel hold `rules`; raises IptablesError (and forces the next sync to be full) on failure.

        A full sync (first one, after a failure, every `full_sync_period`) rewrites
        every chain and deletes any owned chain the kernel has beyond them; other
        syncs write only changed chains. Jumps from the built-in chains are checked
        on full syncs and when `verify_jumps` (the periodic sync) asks for it: read from the
        two tables' saves, and only a jump they lack is asked for (`-C`) and added.
        """
        now = time.monotonic()
        full = full or self.need_full or now - self._last_full >= self.full_sync_period
        saves = await self.saves() if full or verify_jumps else {}
        existing = owned_in(saves) if full else set()
        plan = plan_sync(rules, self.applied, full=full, existing=existing)
        t0 = time.perf_counter()
        size = 0
        try:
            for tx in plan.transactions:
                payload = render(tx, rules.chains)
                size += len(payload)
                await self.iptables.restore(payload)
            self.applied = plan.texts
            added = 0
            if full or verify_jumps:
                for jump in jumps_missing(saves):
                    if await self.iptables.ensure_jump(jump):
                        added += 1
                        log.info("added jump", extra={"table": jump.table, "chain": jump.chain,
                                                      "target": jump.target})
        except BaseException:
            self.need_full = True
            raise
        if full:
            self.need_full = False
            self._last_full = now
        return SyncResult(plan, full, size, time.perf_counter() - t0, added)


def owned_in(saves: dict[str, str]) -> set[ChainKey]:
    """Owned chains declared in the saves (by table)."""
    found: set[ChainKey] = set()
    for table, text in saves.items():
        found |= chains_in_save(text, table)
    return found
