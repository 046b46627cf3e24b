"""How each list and map of the API merges: by a key, as a set, or atomically.

Why one table: strategic merge patch (`apiserver/http/patch.py`) and server-side apply
(`fieldset`, `merge`) must agree on which list items are "the same item" -- a container
is identified by its name in both -- or a client-side apply followed by a server-side one
would treat the same container as two. Kubernetes reads this from Go struct tags
(patchMergeKey / listMapKeys, listType=set, mapType/structType=atomic); kubelite names the
fields here, by field name, since the names are unambiguous across its kinds.
"""

from __future__ import annotations

from typing import Any

# Lists merged by a key (patchStrategy "merge" with patchMergeKey / listType=map), by field name.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "volumes": ("name",), "env": ("name",), "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",), "volumeDevices": ("devicePath",), "hostAliases": ("ip",),
    "ownerReferences": ("uid",), "conditions": ("type",), "topologySpreadConstraints": ("topologyKey",),
    "ports": ("containerPort", "port"),  # container ports by containerPort, Service ports by port
    "addresses": ("type",),
}
# Lists of scalars merged as sets (patchStrategy "merge" without a key; listType=set).
MERGED_SCALAR_LISTS = frozenset({"finalizers"})
# Maps and structs replaced as a whole by apply (mapType/structType=atomic): label selectors.
ATOMIC_FIELDS = frozenset({"selector", "nodeSelector", "labelSelector", "namespaceSelector"})


def list_key(field: str, items: list[Any]) -> str | None:
    """The merge key of list `field`, checked against the items (Service vs container ports)."""
    for key in MERGE_KEYS.get(field, ()):
        if any(isinstance(i, dict) and key in i for i in items):
            return key
    return None
