"""The scheduling framework: plugin protocols, per-cycle state and NodeInfo.

Why the kube-scheduler framework shape: every scheduling rule (resources,
node selector, ports, later taints and affinity) is a small plugin behind one
of three questions -- may the pod go there (Filter), how good is it (Score),
how do we commit (Bind). The algorithm in `scheduler.algorithm` knows nothing
about any rule, so adding one never touches the loop.

Plugins are synchronous except Bind: filtering and scoring read only the
in-memory cache, so a whole scheduling cycle runs without yielding to the event
loop and sees one consistent view of the cluster (the "snapshot").
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kubelite.api import Node, Pod
from scheduler.resources import HostPort, NodeFacts, PodInfo, node_facts

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class Code(enum.Enum):
    SUCCESS = "Success"
    UNSCHEDULABLE = "Unschedulable"
    ERROR = "Error"
    SKIP = "Skip"


@dataclass(frozen=True, slots=True)
class Status:
    """A plugin's answer. `reasons` are the short texts aggregated into the
    FailedScheduling message ("Insufficient cpu"); `plugin` names who said no."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    @staticmethod
    def unschedulable(*reasons: str, plugin: str = "") -> Status:
        return Status(Code.UNSCHEDULABLE, tuple(reasons), plugin)

    @staticmethod
    def error(message: str, plugin: str = "") -> Status:
        return Status(Code.ERROR, (message,), plugin)

    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()
SKIP = Status(Code.SKIP)


NOT_READY = "NotReady"
UNSCHEDULABLE = "Unschedulable"
TAINTED = "Tainted"


def node_conditions(facts: NodeFacts) -> tuple[str, ...]:
    """The node-level conditions (NOT_READY, UNSCHEDULABLE, TAINTED) that some filter rejects on."""
    return ((NOT_READY,) if not facts.ready else ()) + ((UNSCHEDULABLE,) if facts.unschedulable else ()) \
        + ((TAINTED,) if facts.taints else ())


def count_node_conditions(nodes: Sequence[NodeInfo]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for n in nodes:
        counts.update(node_conditions(n.facts))
    return counts


class CycleState:
    """Data shared by the plugins within one scheduling cycle of one pod.

    Passed explicitly to every plugin call (never global) so that cycles cannot
    leak state into each other; PreFilter writes, Filter/Score read.
    """

    __slots__ = ("_affinity_nodes", "_data", "_node_conditions", "nodes", "pod_info", "skip_filter_plugins")

    def __init__(self, pod_info: PodInfo, nodes: Sequence[NodeInfo] = ()) -> None:
        self.pod_info = pod_info
        # The cycle's snapshot of every node: PreFilter plugins that count pods per
        # topology domain (pod affinity, topology spread) read it once per cycle.
        self.nodes: Sequence[NodeInfo] = nodes
        self._data: dict[str, Any] = {}
        # Filters whose PreFilter said SKIP (nothing to check for this pod, e.g. no
        # nodeSelector): not run at all this cycle, which matters at 1000 nodes.
        self.skip_filter_plugins: set[str] = set()
        self._affinity_nodes: Sequence[NodeInfo] | None = None
        self._node_conditions: Mapping[str, int] | None = None

    @property
    def affinity_nodes(self) -> Sequence[NodeInfo]:
        """The snapshot's nodes running pods with pod (anti-)affinity terms: the only ones whose
        pods an incoming pod's placement must be checked against (symmetry). The scheduler's cache
        keeps this set as pods come and go, so a cycle does not scan every node to find it."""
        if self._affinity_nodes is None:
            self._affinity_nodes = [n for n in self.nodes if n.pods_with_affinity]
        return self._affinity_nodes

    @affinity_nodes.setter
    def affinity_nodes(self, nodes: Sequence[NodeInfo]) -> None:
        self._affinity_nodes = nodes

    @property
    def node_conditions(self) -> Mapping[str, int]:
        """How many of the snapshot's nodes are NOT_READY, UNSCHEDULABLE or TAINTED: a filter that
        only ever rejects such nodes skips itself (PreFilter SKIP) when there are none, instead of
        being called for every node. The scheduler's cache keeps these counts as nodes change."""
        if self._node_conditions is None:
            self._node_conditions = count_node_conditions(self.nodes)
        return self._node_conditions

    @node_conditions.setter
    def node_conditions(self, counts: Mapping[str, int]) -> None:
        self._node_conditions = counts

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value a plugin stored earlier in this cycle; KeyError if none did."""
        return self._data[key]


class ClusterEvent(enum.Enum):
    """Cluster changes that may make a previously unschedulable pod fit.

    Each plugin declares which of these can undo its own rejections, so a node
    heartbeat does not retry every parked pod (see SchedulingQueue)."""

    NODE_ADD = "NodeAdd"
    NODE_ALLOCATABLE_CHANGE = "NodeAllocatableChange"
    NODE_LABEL_CHANGE = "NodeLabelChange"
    NODE_TAINT_CHANGE = "NodeTaintChange"
    NODE_CONDITION_CHANGE = "NodeConditionChange"
    NODE_SPEC_UNSCHEDULABLE_CHANGE = "NodeSpecUnschedulableChange"
    ASSIGNED_POD_ADD = "AssignedPodAdd"
    ASSIGNED_POD_DELETE = "AssignedPodDelete"
    UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
    VOLUME_CHANGE = "VolumeChange"  # a PersistentVolumeClaim, PersistentVolume or StorageClass changed


EXACT_FLOAT_MEMORY = 2 ** 46
"""Below this many bytes (64 TiB) of allocatable memory, least-allocated's `(free - want) * 100 //
cap` gives the same integer on floats as on ints: every operand is an integer below 2**53 (exact),
and a quotient at most 100 that is not an integer lies at least 1/cap below the next integer, more
than the half-ulp a rounded division can add. Memory in bytes is a multi-digit int to CPython,
whose floor division costs several times a float's (~1/3 of the score, measured)."""


def exact_float(value: int) -> float:
    """`value` as a float when that is exact; otherwise NaN, which poisons any sum it enters and
    fails every comparison, so the least-allocated score answers such a node with the integer rule."""
    return float(value) if -(2 ** 53) < value < 2 ** 53 else math.nan


class NodeInfo:
    """A node plus the pods assigned or assumed on it, with running totals.

    Totals are updated incrementally on every add/remove so that a filter is a
    handful of integer comparisons; nothing here rescans the node's pods.
    `node` is None for a "ghost" entry: pods the informer reports on a node we
    have not seen (yet, or any more) are still counted so they are not lost.

    The `free_*` and `nz_free_*` figures (allocatable minus the requested, resp. the
    non-zero requested, totals) and `alloc_*` are the same numbers again, kept up to date
    with every change: the resources filter and least-allocated scoring read them for
    hundreds of nodes per cycle, and one attribute each there is measurably cheaper than
    walking to `facts` and adding up per node (bench/README.md, the scheduler's profile).
    `alloc_memory_f` and `nz_free_memory_f` are the memory figures as floats for the score,
    where they are exact (see `exact_float`); `alloc_memory_f` is 0.0 on a node with
    EXACT_FLOAT_MEMORY or more allocatable, whose score then takes the integer path.
    """

    __slots__ = ("name", "node", "facts", "pods", "requested_cpu", "requested_memory",
                 "non_zero_cpu", "non_zero_memory", "used_ports", "owner_counts", "generation",
                 "pods_with_affinity", "alloc_cpu", "alloc_memory", "free_cpu", "free_memory", "free_pods",
                 "nz_free_cpu", "nz_free_memory", "alloc_memory_f", "nz_free_memory_f")

    def __init__(self, name: str, node: Node | None = None) -> None:
        self.name = name
        self.node: Node | None = None
        self.facts = NodeFacts(cpu=0, memory=0, pods=0, ready=False, unschedulable=True)
        self.pods: dict[str, PodInfo] = {}  # by pod uid
        self.requested_cpu = 0
        self.requested_memory = 0
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.used_ports: Counter[HostPort] = Counter()
        self.owner_counts: Counter[str] = Counter()  # controller uid -> pods of it here
        # Pods here that declare pod (anti-)affinity: the only ones whose terms an incoming
        # pod must be checked against, so that check never scans every pod of the cluster.
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.generation = 0
        if node is not None:
            self.set_node(node)
        else:
            self._derive()

    def _derive(self) -> None:
        """Recompute the derived figures (see the class doc) from facts and the totals."""
        facts = self.facts
        self.alloc_cpu = facts.cpu
        self.alloc_memory = facts.memory
        self.free_cpu = facts.cpu - self.requested_cpu
        self.free_memory = facts.memory - self.requested_memory
        self.free_pods = facts.pods - len(self.pods)
        self.nz_free_cpu = facts.cpu - self.non_zero_cpu
        self.nz_free_memory = facts.memory - self.non_zero_memory
        self.alloc_memory_f = float(facts.memory) if 0 < facts.memory < EXACT_FLOAT_MEMORY else 0.0
        self.nz_free_memory_f = exact_float(self.nz_free_memory)

    def set_node(self, node: Node | None) -> None:
        self.node = node
        if node is not None:
            self.facts = node_facts(node)
        self.generation += 1
        self._derive()

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.node.metadata.labels) if self.node is not None else {}

    def add_pod(self, info: PodInfo) -> None:
        if info.uid in self.pods:
            self.remove_pod(info.uid)
        self.pods[info.uid] = info
        self.requested_cpu += info.requests.cpu
        self.requested_memory += info.requests.memory
        self.non_zero_cpu += info.non_zero.cpu
        self.non_zero_memory += info.non_zero.memory
        self.used_ports.update(info.host_ports)
        if info.owner_uid:
            self.owner_counts[info.owner_uid] += 1
        affinity = info.pod.spec.affinity
        if affinity is not None and (affinity.pod_affinity or affinity.pod_anti_affinity):
            self.pods_with_affinity[info.uid] = info
        self.generation += 1
        self._derive()

    def remove_pod(self, uid: str) -> PodInfo | None:
        info = self.pods.pop(uid, None)
        if info is None:
            return None
        self.requested_cpu -= info.requests.cpu
        self.requested_memory -= info.requests.memory
        self.non_zero_cpu -= info.non_zero.cpu
        self.non_zero_memory -= info.non_zero.memory
        self.pods_with_affinity.pop(uid, None)
        self.used_ports.subtract(info.host_ports)
        for port in info.host_ports:
            if self.used_ports[port] <= 0:
                del self.used_ports[port]
        if info.owner_uid:
            self.owner_counts[info.owner_uid] -= 1
            if self.owner_counts[info.owner_uid] <= 0:
                del self.owner_counts[info.owner_uid]
        self.generation += 1
        self._derive()
        return info

    def __repr__(self) -> str:
        return (f"NodeInfo({self.name!r}, pods={len(self.pods)}, cpu={self.requested_cpu}/{self.facts.cpu}m, "
                f"memory={self.requested_memory}/{self.facts.memory})")


# --- plugin protocols -------------------------------------------------------


@runtime_checkable
class Plugin(Protocol):
    name: str


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: Pod) -> Status:
        """Compute per-pod data once per cycle (written into `state`).

        SKIP means "this pod asks nothing of me": the same plugin's Filter is
        then not called for any node in this cycle.
        """
        ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        """SUCCESS if the pod may run on the node, else unschedulable with reasons."""
        ...

    def events_to_register(self) -> frozenset[ClusterEvent]:
        """Cluster events after which a pod this plugin rejected is worth retrying."""
        ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        """0..MAX_NODE_SCORE, higher is better."""
        ...


@runtime_checkable
class BatchScorePlugin(ScorePlugin, Protocol):
    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        """Same as `score` for each node, in one call (saves a Python call per node)."""
        ...


@runtime_checkable
class PreScorePlugin(ScorePlugin, Protocol):
    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> bool:
        """False when this pod gives the plugin nothing to prefer (every node would score
        the same), so the whole scoring pass is skipped -- kube-scheduler's PreScore Skip."""
        ...


@runtime_checkable
class NormalizeScorePlugin(ScorePlugin, Protocol):
    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> None:
        """Rescale `scores` (one per feasible node, same order) in place to 0..MAX_NODE_SCORE."""
        ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        """Commit the decision; SKIP lets the next bind plugin try."""
        ...


@dataclass
class Profile:
    """The plugins one scheduler profile runs, in order, with score weights."""

    scheduler_name: str = "default-scheduler"
    pre_filter: Sequence[PreFilterPlugin] = ()
    filter: Sequence[FilterPlugin] = ()
    score: Sequence[tuple[ScorePlugin, int]] = ()
    bind: Sequence[BindPlugin] = ()
    informers: Sequence[Any] = ()
    """Informers the plugins read (claims, volumes...): the scheduler runs them and retries parked
    pods on their changes (ClusterEvent.VOLUME_CHANGE)."""
    _events: dict[str, frozenset[ClusterEvent]] = field(default_factory=dict, init=False)

    def run_pre_filter(self, state: CycleState, pod: Pod) -> Status:
        for plugin in self.pre_filter:
            status = plugin.pre_filter(state, pod)
            if status.code is Code.SKIP:
                state.skip_filter_plugins.add(plugin.name)
            elif not status.ok:
                return status if status.plugin else Status(status.code, status.reasons, plugin.name)
        return SUCCESS

    def active_filters(self, state: CycleState) -> list[FilterPlugin]:
        """The filters to run this cycle (PreFilter may have skipped some)."""
        skip = state.skip_filter_plugins
        return [p for p in self.filter if p.name not in skip] if skip else list(self.filter)

    def run_filters(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        """First failing filter wins (later ones are not run), like kube-scheduler."""
        for plugin in self.active_filters(state):
            status = plugin.filter(state, pod, node_info)
            if status.code is not Code.SUCCESS:
                return status if status.plugin else Status(status.code, status.reasons, plugin.name)
        return SUCCESS

    def events_for(self, plugin_name: str) -> frozenset[ClusterEvent]:
        if not self._events:
            self._events = {p.name: p.events_to_register() for p in self.filter}
        return self._events.get(plugin_name, frozenset(ClusterEvent))

    def registered_events(self) -> frozenset[ClusterEvent]:
        """Every event some filter plugin can be helped by."""
        events: set[ClusterEvent] = set()
        for p in self.filter:
            events |= p.events_to_register()
        return frozenset(events)

    async def run_bind(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        for plugin in self.bind:
            status = await plugin.bind(state, pod, node_name)
            if status.code is not Code.SKIP:
                return status
        return Status.error("no bind plugin bound the pod")
