"""How a HorizontalPodAutoscaler reads in a table: REFERENCE, TARGETS, MINPODS, MAXPODS, REPLICAS.

Why apart from `columns`: TARGETS pairs each spec metric with its current value from
the status (`cpu: 45%/50%`, `<unknown>` until the controller has measured), which
`kctl get`, `kctl describe` and the server's Table for kubectl all print the same way.
"""

from __future__ import annotations

from typing import Any


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def metric_targets(hpa: dict[str, Any]) -> list[str]:
    """One `name: current/target` text per Resource metric of the spec, as kubectl prints them."""
    current: dict[str, dict[str, Any]] = {}
    for m in _l(_d(hpa.get("status")).get("currentMetrics")):
        res = _d(_d(m).get("resource"))
        if res.get("name"):
            current[str(res["name"])] = _d(res.get("current"))
    out = []
    for m in _l(_d(hpa.get("spec")).get("metrics")):
        res = _d(_d(m).get("resource"))
        name, target = str(res.get("name") or ""), _d(res.get("target"))
        now = current.get(name, {})
        if target.get("type") == "Utilization":
            value = now.get("averageUtilization")
            out.append(f"{name}: {'<unknown>' if value is None else f'{value}%'}/{target.get('averageUtilization')}%")
        else:
            value = now.get("averageValue")
            out.append(f"{name}: {'<unknown>' if value is None else value}/{target.get('averageValue')}")
    return out


def hpa_row(hpa: dict[str, Any]) -> list[str]:
    """REFERENCE TARGETS MINPODS MAXPODS REPLICAS (the caller adds AGE)."""
    spec = _d(hpa.get("spec"))
    ref = _d(spec.get("scaleTargetRef"))
    targets = metric_targets(hpa)
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}", ", ".join(targets) or "<none>",
            str(spec.get("minReplicas", 1)), str(spec.get("maxReplicas", "")),
            str(_d(hpa.get("status")).get("currentReplicas", 0))]
