"""`kctl describe`: a readable account of one object, its parts and its recent Events.

Why a small writer with aligned sections instead of YAML: describe is for people
debugging ("why is my pod not running?"), so it puts the status, the container
states, the conditions and the Events that explain them in one place, laid out
the way kubectl users know.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubectl.printers import NONE, as_dict, as_list, dig, event_time, human_duration
from kubelite.api.timeutil import parse_time_or_none

Obj = dict[str, Any]


class Writer:
    """Collects `Label: value` lines at indent levels; consecutive fields of a level align."""

    def __init__(self) -> None:
        self._lines: list[tuple[int, str | None, str]] = []  # (level, label or None for text, value)
        self._breaks: set[int] = set()  # indexes where a new alignment run starts

    def section(self) -> None:
        """Start a new alignment run: the next fields do not align with the previous ones."""
        self._breaks.add(len(self._lines))

    def field(self, level: int, label: str, value: Any) -> None:
        text = NONE if value is None or value == "" else str(value)
        lines = text.split("\n")
        self._lines.append((level, label + ":", lines[0]))
        for more in lines[1:]:
            self._lines.append((level, "", more))

    def heading(self, level: int, label: str) -> None:
        """`Label:` alone on its line (its values follow, indented); ends an alignment run."""
        self._lines.append((level, None, label + ":"))

    def text(self, level: int, text: str) -> None:
        self._lines.append((level, None, text))

    def items(self, level: int, label: str, values: Sequence[str]) -> None:
        """A field whose values go one per line under the first (labels, annotations)."""
        if not values:
            self.field(level, label, NONE)
            return
        self.field(level, label, values[0])
        for value in values[1:]:
            self._lines.append((level, "", value))

    def table(self, level: int, header: Sequence[str], rows: Sequence[Sequence[str]], underline: bool = False) -> None:
        all_rows = [list(header)] + ([["-" * len(h) for h in header]] if underline else []) + [list(r) for r in rows]
        widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
        for row in all_rows:
            cells = [c.ljust(widths[i] + 2) if i < len(row) - 1 else c for i, c in enumerate(row)]
            self.text(level, "".join(cells).rstrip())

    def render(self) -> str:
        """Consecutive fields (at any indent) share one value column, like kubectl's tabwriter."""
        out: list[str] = []
        i = 0
        while i < len(self._lines):
            level, label, value = self._lines[i]
            if label is None:
                out.append(("  " * level + value).rstrip())
                i += 1
                continue
            j = i + 1
            while j < len(self._lines) and self._lines[j][1] is not None and j not in self._breaks:
                j += 1
            width = max(len("  " * lvl + (lbl or "")) for lvl, lbl, _ in self._lines[i:j]) + 2
            for lvl, lbl, val in self._lines[i:j]:
                out.append(("  " * lvl + (lbl or "")).ljust(width) + val if val else "  " * lvl + (lbl or ""))
            i = j
        return "\n".join(line.rstrip() for line in out) + "\n"


def fmt_time(value: Any) -> str:
    """RFC 1123 with zone offset, like kubectl: `Mon, 24 Nov 2026 02:50:44 +0000`."""
    when = parse_time_or_none(value)
    return when.strftime("%a, %d %b %Y %H:%M:%S %z") if when else NONE


def kv_lines(mapping: Any) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(as_dict(mapping).items())]


def annotation_lines(mapping: Any) -> list[str]:
    """Annotations as `key: value`, hiding the bulky last-applied configuration like kubectl."""
    return [f"{k}: {v}" for k, v in sorted(as_dict(mapping).items())
            if k != "kubectl.kubernetes.io/last-applied-configuration"]


def describe_meta(w: Writer, obj: Obj, *, namespaced: bool = True) -> None:
    meta = as_dict(obj.get("metadata"))
    w.field(0, "Name", meta.get("name"))
    if namespaced:
        w.field(0, "Namespace", meta.get("namespace"))
    w.items(0, "Labels", kv_lines(meta.get("labels")))
    w.items(0, "Annotations", annotation_lines(meta.get("annotations")))


def controlled_by(obj: Obj) -> str | None:
    for ref in as_list(dig(obj, "metadata", "ownerReferences")):
        if as_dict(ref).get("controller"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


def conditions_table(w: Writer, level: int, obj: Obj, extra: bool = False) -> None:
    conditions = [as_dict(c) for c in as_list(dig(obj, "status", "conditions"))]
    if not conditions:
        return
    w.text(level, "Conditions:")
    if extra:
        rows = [[str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or "")] for c in conditions]
        w.table(level + 1, ["Type", "Status", "Reason"], rows, underline=True)
    else:
        rows = [[str(c.get("type", "")), str(c.get("status", ""))] for c in conditions]
        w.table(level + 1, ["Type", "Status"], rows)


# ---- containers ------------------------------------------------------------------------------------

def _state(w: Writer, level: int, label: str, state: Any) -> None:
    state = as_dict(state)
    if "running" in state:
        w.field(level, label, "Running")
        w.field(level + 1, "Started", fmt_time(as_dict(state["running"]).get("startedAt")))
    elif "waiting" in state:
        w.field(level, label, "Waiting")
        waiting = as_dict(state["waiting"])
        w.field(level + 1, "Reason", waiting.get("reason"))
        if waiting.get("message"):
            w.field(level + 1, "Message", waiting.get("message"))
    elif "terminated" in state:
        term = as_dict(state["terminated"])
        w.field(level, label, "Terminated")
        w.field(level + 1, "Reason", term.get("reason"))
        if term.get("message"):
            w.field(level + 1, "Message", term.get("message"))
        w.field(level + 1, "Exit Code", term.get("exitCode", 0))
        if term.get("signal"):
            w.field(level + 1, "Signal", term.get("signal"))
        w.field(level + 1, "Started", fmt_time(term.get("startedAt")))
        w.field(level + 1, "Finished", fmt_time(term.get("finishedAt")))
    else:
        w.field(level, label, "Waiting" if label == "State" else NONE)


def _env_value(env: Obj) -> str:
    if "value" in env:
        return str(env.get("value"))
    source = as_dict(env.get("valueFrom"))
    if "fieldRef" in source:
        ref = as_dict(source["fieldRef"])
        return f"({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})"
    if "configMapKeyRef" in source:
        ref = as_dict(source["configMapKeyRef"])
        return f"<set to the key '{ref.get('key')}' of config map '{ref.get('name')}'>"
    if "secretKeyRef" in source:
        ref = as_dict(source["secretKeyRef"])
        return f"<set to the key '{ref.get('key')}' in secret '{ref.get('name')}'>"
    if "resourceFieldRef" in source:
        return f"{as_dict(source['resourceFieldRef']).get('resource')}"
    return ""


def describe_containers(w: Writer, level: int, title: str, containers: list[Any],
                        statuses: list[Any] | None) -> None:
    """Containers of a pod (with live state) or of a pod template (statuses None)."""
    if not containers:
        return
    w.text(level, f"{title}:")
    by_name = {as_dict(s).get("name"): as_dict(s) for s in statuses or []}
    for container in containers:
        c = as_dict(container)
        status = by_name.get(c.get("name"), {})
        w.text(level + 1, f"{c.get('name')}:")
        lv = level + 2
        if statuses is not None:
            w.field(lv, "Container ID", status.get("containerID"))
        w.field(lv, "Image", c.get("image"))
        if statuses is not None:
            w.field(lv, "Image ID", status.get("imageID"))
        ports = [f"{as_dict(p).get('containerPort')}/{as_dict(p).get('protocol') or 'TCP'}"
                 for p in as_list(c.get("ports"))]
        w.field(lv, "Port" if len(ports) < 2 else "Ports", ", ".join(ports) or NONE)
        host_ports = [f"{as_dict(p).get('hostPort')}/{as_dict(p).get('protocol') or 'TCP'}"
                      for p in as_list(c.get("ports")) if as_dict(p).get("hostPort")]
        w.field(lv, "Host Port", ", ".join(host_ports) or NONE)
        for label, key in (("Command", "command"), ("Args", "args")):
            values = [str(v) for v in as_list(c.get(key))]
            if values:
                w.heading(lv, label)
                for value in values:
                    w.text(lv + 1, value)
        if statuses is not None:
            _state(w, lv, "State", status.get("state"))
            if as_dict(status.get("lastState")):
                _state(w, lv, "Last State", status.get("lastState"))
            w.field(lv, "Ready", "True" if status.get("ready") else "False")
            w.field(lv, "Restart Count", status.get("restartCount", 0))
        resources = as_dict(c.get("resources"))
        for label, key in (("Limits", "limits"), ("Requests", "requests")):
            amounts = as_dict(resources.get(key))
            if amounts:
                w.text(lv, f"{label}:")
                for name, qty in sorted(amounts.items()):
                    w.field(lv + 1, name, qty)
        for label, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"),
                           ("Startup", "startupProbe")):
            if c.get(key):
                w.field(lv, label, _probe_text(as_dict(c.get(key))))
        env = [as_dict(e) for e in as_list(c.get("env"))]
        if env:
            w.text(lv, "Environment:")
            for e in env:
                w.field(lv + 1, str(e.get("name")), _env_value(e))
        else:
            w.field(lv, "Environment", NONE)
        mounts = [f"{as_dict(m).get('mountPath')} from {as_dict(m).get('name')}"
                  + (" (ro)" if as_dict(m).get("readOnly") else " (rw)") for m in as_list(c.get("volumeMounts"))]
        w.items(lv, "Mounts", mounts)


def _probe_text(probe: Obj) -> str:
    if "httpGet" in probe:
        http = as_dict(probe["httpGet"])
        how = f"http-get {http.get('scheme', 'HTTP').lower()}://{http.get('host', '')}:{http.get('port')}{http.get('path', '/')}"
    elif "tcpSocket" in probe:
        how = f"tcp-socket :{as_dict(probe['tcpSocket']).get('port')}"
    elif "exec" in probe:
        how = "exec " + str(as_list(as_dict(probe["exec"]).get("command")))
    else:
        how = "unknown"
    return (f"{how} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
            f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
            f"#failure={probe.get('failureThreshold', 3)}")


def describe_template(w: Writer, level: int, template: Any) -> None:
    template = as_dict(template)
    w.text(level, "Pod Template:")
    w.items(level + 1, "Labels", kv_lines(dig(template, "metadata", "labels")))
    spec = as_dict(template.get("spec"))
    describe_containers(w, level + 1, "Init Containers", as_list(spec.get("initContainers")), None)
    describe_containers(w, level + 1, "Containers", as_list(spec.get("containers")), None)
    w.items(level + 1, "Volumes", [str(as_dict(v).get("name")) for v in as_list(spec.get("volumes"))])


# ---- events ----------------------------------------------------------------------------------------

def _event_age(ev: Obj, now: datetime) -> str:
    last = event_time(ev)
    if last is None:
        return "<unknown>"
    text = human_duration((now - last).total_seconds())
    count = ev.get("count")
    first = parse_time_or_none(ev.get("firstTimestamp")) or parse_time_or_none(ev.get("eventTime"))
    if isinstance(count, int) and count > 1 and first is not None:
        text += f" (x{count} over {human_duration((now - first).total_seconds())})"
    return text


def _event_source(ev: Obj) -> str:
    source = as_dict(ev.get("source"))
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ""
    return f"{component}, {host}" if component and host else str(component or host)


def describe_events(w: Writer, events: list[Obj], now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    w.section()
    if not events:
        w.field(0, "Events", NONE)
        return
    w.text(0, "Events:")
    rows = [[str(e.get("type", "")), str(e.get("reason", "")), _event_age(e, now), _event_source(e),
             str(e.get("message", "")).strip().replace("\n", " ")] for e in events]
    w.table(1, ["Type", "Reason", "Age", "From", "Message"], rows, underline=True)


def sort_events(events: list[Obj]) -> list[Obj]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: event_time(e) or epoch)
