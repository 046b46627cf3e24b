"""One scheduling decision: filter nodes, score the feasible ones, pick the best.

Why pure and synchronous: a decision reads only the cache, so it is a plain
function of (pod, nodes, plugins, random source) -- unit-testable without any
I/O, and it runs without yielding so it sees one consistent cluster state.

Cost is O(nodes) per pod, with the same trick as kube-scheduler to keep the
constant small on big clusters: stop filtering once "enough" feasible nodes
are found (an adaptive share of the cluster, at least 100 nodes), starting
each cycle where the previous one stopped so every node gets its turn.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, islice

from kubelite.api import Pod
from scheduler.diagnosis import Diagnosis
from scheduler.framework import SUCCESS, Code, CycleState, NodeInfo, Profile, Status

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5


class SchedulingError(Exception):
    """A plugin failed with an error (not a "does not fit"): retry the pod after backoff."""

    def __init__(self, status: Status) -> None:
        super().__init__(f"{status.plugin}: {status.message()}")
        self.status = status


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    """The chosen node, or None with the reasons every node gave."""

    node_name: str | None
    evaluated_nodes: int
    feasible_nodes: int
    diagnosis: Diagnosis | None = None


class Algorithm:
    """Generic filter/score/select over a profile's plugins.

    `rng` breaks ties between equally good nodes; it is injected (seedable) so
    that tests are reproducible and nothing depends on global randomness.
    `percentage_of_nodes_to_score` 0 means adaptive, 100 means always all nodes.
    """

    def __init__(self, profile: Profile, rng: random.Random, percentage_of_nodes_to_score: int = 0) -> None:
        self.profile = profile
        self.rng = rng
        self.percentage = percentage_of_nodes_to_score
        self._next_start = 0

    def num_feasible_nodes_to_find(self, num_all_nodes: int) -> int:
        if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND or self.percentage >= 100:
            return num_all_nodes
        pct = self.percentage
        if pct <= 0:
            pct = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE)
        return max(num_all_nodes * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)

    def schedule(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """Decide where `pod` goes. Raises SchedulingError if a plugin errors."""
        total = len(nodes)
        state.nodes = nodes
        pre = self.profile.run_pre_filter(state, pod)
        if pre.code is Code.ERROR:
            raise SchedulingError(pre)
        if not pre.ok:
            return ScheduleResult(None, 0, 0, Diagnosis(total, pre_filter_status=pre))
        if total == 0:
            return ScheduleResult(None, 0, 0, Diagnosis(0))

        feasible, diagnosis, evaluated = self._find_feasible(state, pod, nodes)
        if not feasible:
            return ScheduleResult(None, evaluated, 0, diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        scores = self._score(state, pod, feasible)
        best = self._select_host(scores)
        return ScheduleResult(feasible[best].name, evaluated, len(feasible))

    def _find_feasible(self, state: CycleState, pod: Pod,
                       nodes: Sequence[NodeInfo]) -> tuple[list[NodeInfo], Diagnosis, int]:
        """The hot loop: written for speed (bound methods, no per-node allocation on success,
        no copy of the node list to rotate it: a cycle usually stops long before its end).
        With one active filter (a plain pod on a uniform cluster: the resources filter) the
        per-node loop over the filters is left out: its setup per node cost about as much as
        the filter call itself. `evaluated` is counted from the results, not per node."""
        total = len(nodes)
        remaining = self.num_feasible_nodes_to_find(total)
        start = self._next_start % total
        filters = [(p.filter, p.name) for p in self.profile.active_filters(state)]
        feasible: list[NodeInfo] = []
        append = feasible.append
        diagnosis = Diagnosis(total)
        rejected = 0
        order = chain(islice(nodes, start, None), islice(nodes, start)) if start else nodes
        if len(filters) == 1:
            [(run, name)] = filters
            for node_info in order:
                status = run(state, pod, node_info)
                if status is SUCCESS or status.code is Code.SUCCESS:
                    append(node_info)
                    remaining -= 1
                    if not remaining:
                        break
                else:
                    rejected += 1
                    self._reject(diagnosis, node_info, status, name)
        else:
            for node_info in order:
                for run, name in filters:  # noqa: B007 (`name` is read after the break)
                    status = run(state, pod, node_info)
                    if status is not SUCCESS and status.code is not Code.SUCCESS:
                        break
                else:
                    append(node_info)
                    remaining -= 1
                    if not remaining:
                        break
                    continue
                rejected += 1
                self._reject(diagnosis, node_info, status, name)
        evaluated = len(feasible) + rejected
        self._next_start = (start + evaluated) % total
        return feasible, diagnosis, evaluated

    @staticmethod
    def _reject(diagnosis: Diagnosis, node_info: NodeInfo, status: Status, name: str) -> None:
        """Record why `node_info` failed (named after the filter that said so); a filter error
        fails the whole cycle."""
        if not status.plugin:
            status = Status(status.code, status.reasons, name)
        if status.code is Code.ERROR:
            raise SchedulingError(status)
        diagnosis.add(node_info.name, status)

    def _score(self, state: CycleState, pod: Pod, feasible: list[NodeInfo]) -> list[int]:
        totals: list[int] | None = None
        for plugin, weight in self.profile.score:
            pre_score = getattr(plugin, "pre_score", None)
            if pre_score is not None and not pre_score(state, pod, feasible):
                continue  # the plugin would score every node alike for this pod: skip the pass
            batch = getattr(plugin, "score_nodes", None)
            scores: list[int] = (batch(state, pod, feasible) if batch is not None
                                 else [plugin.score(state, pod, n) for n in feasible])
            normalize = getattr(plugin, "normalize_score", None)
            if normalize is not None:
                normalize(state, pod, scores)
            if totals is None:
                totals = [s * weight for s in scores] if weight != 1 else scores
            else:
                totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
        return totals if totals is not None else [0] * len(feasible)

    def _select_host(self, scores: list[int]) -> int:
        """Index of a highest score; ties broken uniformly by the injected random source."""
        best = max(scores)
        ties = [i for i, s in enumerate(scores) if s == best]
        return ties[0] if len(ties) == 1 else ties[self.rng.randrange(len(ties))]
