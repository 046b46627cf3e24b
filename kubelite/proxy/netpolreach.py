"""PolicyReach: which pods the NetworkPolicy compiler can read at all, so other pods' changes cost no sync.

Why: every proxy watches every pod of the cluster, and a pod start changes its
record (it gains an IP). Requesting a sync for each such change made each
proxy rebuild its whole rule set once per pod started anywhere (issue 20: ~4 ms
of CPU per pod per proxy in a burst), although with no NetworkPolicy, or with
policies that select none of those pods, the compiled chains cannot change.

`compile_policies` reads a pod record only when the pod is
  * a target: on this node and selected by a policy of its namespace;
  * a peer: selected by some rule's `podSelector`/`namespaceSelector`;
  * or when some egress rule names a port towards addresses (`ipBlock` or no
    peers): then every pod with that port name is looked at.
A change to a pod that is none of these, before or after, leaves the output
unchanged, so it needs no sync. The check is pure and conservative (a selector
that cannot be evaluated makes every pod count); the sync itself stays level-
triggered over all records, so skipping can never leave a stale rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubelite.api.errors import ApiError
from kubelite.api.networking import NetworkPolicy, NetworkPolicyPeer
from kubelite.api.selectors import LabelMatcher, label_matcher
from kubelite.proxy.netpol import NAMESPACE_NAME_LABEL, PodRecord


@dataclass(frozen=True)
class _PeerReach:
    """Pods one policy peer selects: in `namespace` (None: any namespace `namespaces` matches), with `pods`."""

    namespace: str | None
    namespaces: LabelMatcher | None
    pods: LabelMatcher | None  # None: every pod of those namespaces


class PolicyReach:
    """Built from the policies and namespace labels (rebuilt when either changes); asked per pod event."""

    def __init__(self, policies: Sequence[NetworkPolicy], namespace_labels: Mapping[str, Mapping[str, str]],
                 node_name: str) -> None:
        self.node_name = node_name
        self._ns_labels = namespace_labels
        self._targets: list[tuple[str, LabelMatcher]] = []
        self._peers: list[_PeerReach] = []
        self.every_pod = False
        try:
            for np in policies:
                self._add(np)
        except ApiError:  # a selector the compiler cannot evaluate either: do not guess, count every pod
            self.every_pod = True

    def _add(self, np: NetworkPolicy) -> None:
        ns = np.metadata.namespace or "default"
        self._targets.append((ns, label_matcher(np.spec.pod_selector)))
        for peers in [r.from_ for r in np.spec.ingress] + [r.to for r in np.spec.egress]:
            for peer in peers:
                self._add_peer(ns, peer)
        for rule in np.spec.egress:
            named = any(isinstance(p.port, str) for p in rule.ports)
            if named and (not rule.to or any(peer.ip_block is not None for peer in rule.to)):
                self.every_pod = True

    def _add_peer(self, ns: str, peer: NetworkPolicyPeer) -> None:
        if peer.ip_block is not None:
            return
        pods = label_matcher(peer.pod_selector) if peer.pod_selector is not None else None
        if peer.namespace_selector is None:
            self._peers.append(_PeerReach(ns, None, pods))
        else:
            self._peers.append(_PeerReach(None, label_matcher(peer.namespace_selector), pods))

    def _namespace_labels(self, ns: str) -> dict[str, str]:
        return {**self._ns_labels.get(ns, {}), NAMESPACE_NAME_LABEL: ns}

    def reads(self, record: PodRecord | None) -> bool:
        """True if the compiled chains may depend on `record` (None, a pod without an IP: never)."""
        if record is None:
            return False
        if self.every_pod:
            return True
        labels = dict(record.labels)
        if record.node == self.node_name and any(
                ns == record.namespace and m.matches(labels) for ns, m in self._targets):
            return True
        ns_labels: dict[str, str] | None = None
        for peer in self._peers:
            if peer.namespace is not None:
                if peer.namespace != record.namespace:
                    continue
            else:
                if ns_labels is None:
                    ns_labels = self._namespace_labels(record.namespace)
                if peer.namespaces is None or not peer.namespaces.matches(ns_labels):
                    continue
            if peer.pods is None or peer.pods.matches(labels):
                return True
        return False

    def affected(self, old: PodRecord | None, new: PodRecord | None) -> bool:
        """A pod went from `old` to `new` (None: absent or without an IP): can the chains change?"""
        return old != new and (self.reads(old) or self.reads(new))
