"""What a List or Watch asks for: a namespace plus label and field selectors.

Why its own type: the watch cache evaluates the same selection for lists,
for the initial state of a watch and for every event fanned out to a watcher,
and it needs to know when a selection pins `spec.nodeName` to one value (the
kubelet's watch) so it can use its node index instead of scanning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubelite.api import selectors
from kubelite.api.errors import ApiError, BadRequest

if TYPE_CHECKING:
    from apiserver.storage import StoredObject as CachedObject


@dataclass(frozen=True)
class Selection:
    namespace: str  # "" = all namespaces (or a cluster-scoped resource)
    labels: selectors.LabelMatcher | None = None
    fields: selectors.FieldMatcher | None = None
    node_name: str | None = None  # an exact, non-empty spec.nodeName requirement

    @classmethod
    def parse(cls, namespace: str, label_selector: str = "", field_selector: str = "") -> Selection:
        """Parse the selectors; syntax errors are BadRequest."""
        labels = fields = None
        try:
            if label_selector.strip():
                labels = selectors.parse_label_selector(label_selector)
                if labels.empty:
                    labels = None
            if field_selector.strip():
                fields = selectors.parse_field_selector(field_selector)
        except ApiError:
            raise
        except ValueError as exc:
            raise BadRequest(f"unable to parse selector: {exc}") from None
        return cls(namespace, labels, fields, _pinned_node(field_selector))

    def matches(self, c: CachedObject) -> bool:
        if self.namespace and c.namespace != self.namespace:
            return False
        if self.node_name is not None and c.node_name != self.node_name:
            return False
        if self.labels is not None and not self.labels.matches(c.labels):
            return False
        return self.fields is None or self.fields.matches(c.obj)


def _pinned_node(field_selector: str) -> str | None:
    """The node named by a `spec.nodeName=X` term, if the selector has one (for the index)."""
    if "\\" in field_selector:
        return None
    for term in field_selector.split(","):
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and not key.endswith("!") and key.strip() == "spec.nodeName" and value.strip():
            return value.strip()
    return None
