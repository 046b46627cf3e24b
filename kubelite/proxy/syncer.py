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
from kubelite.proxy.plan import ChainKey, SyncPlan, chains_in_save, plan_sync, render
from kubelite.proxy.rules import FILTER, JUMPS, NAT, RuleSet

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

    async def owned_chains(self) -> set[ChainKey]:
        """Owned chains that exist in the kernel now (to find stale ones left by an earlier run)."""
        found: set[ChainKey] = set()
        for table in (NAT, FILTER):
            found |= chains_in_save(await self.iptables.save(table), table)
        return found

    async def apply(self, rules: RuleSet, *, verify_jumps: bool = False, full: bool = False) -> SyncResult:
        """Make the kernel hold `rules`; raises IptablesError (and forces the next sync to be full) on failure.

        A full sync (first one, after a failure, every `full_sync_period`) rewrites
        every chain and deletes any owned chain the kernel has beyond them; other
        syncs write only changed chains. Jumps from the built-in chains are checked
        on full syncs and when `verify_jumps` (the periodic sync) asks for it.
        """
        now = time.monotonic()
        full = full or self.need_full or now - self._last_full >= self.full_sync_period
        existing = await self.owned_chains() if full else set()
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
                for jump in JUMPS:
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
