"""The OpenAPI v3 schema of a custom kind, for `/openapi/v3/apis/<group>/<version>`.

Why: `kubectl explain <kind>.spec` reads field docs from it and `kubectl apply`
looks up the kind there (by `x-kubernetes-group-version-kind`) before it
sends a patch. The CRD's own schema is used as written, with `apiVersion`,
`kind` and a `metadata` that refers to the ObjectMeta component.
"""

from __future__ import annotations

import copy
from typing import Any

from kubelite.api.meta import ObjectMeta
from kubelite.api.registry import KindInfo


def schemas(info: KindInfo, ref_template: str) -> dict[str, Any]:
    """Components for `info` (its model name -> schema) plus the ObjectMeta it refers to."""
    custom = info.custom
    base: dict[str, Any] = copy.deepcopy(custom.schema) if custom is not None and custom.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    meta_doc = ObjectMeta.model_json_schema(by_alias=True, ref_template=ref_template)
    out: dict[str, Any] = dict(meta_doc.pop("$defs", {}))
    out[ObjectMeta.__name__] = meta_doc
    properties: dict[str, Any] = base.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": "APIVersion of this object"}
    properties["kind"] = {"type": "string", "description": "Kind of this object"}
    properties["metadata"] = {"allOf": [{"$ref": ref_template.format(model=ObjectMeta.__name__)}],
                              "description": "Standard object's metadata."}
    base["type"] = "object"
    base["x-kubernetes-group-version-kind"] = [{"group": info.group, "version": info.version, "kind": info.kind}]
    out[info.model.__name__] = base
    return out
