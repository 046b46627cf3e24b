"""`kctl top nodes|pods`: current CPU and memory use, from the resource metrics API, like kubectl top.

Why through the metrics API (`nodes.metrics.k8s.io`, `pods.metrics.k8s.io`) and not the
kubelets: it is what the HPA reads too, so both show the same figures, and it is
authorized like any read (`get`/`list` in group metrics.k8s.io). CPU is shown in
millicores, memory in MiB, percentages against the node's allocatable, as kubectl does.
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.errors import CliError
from kubectl.output import warn, write
from kubectl.printers import render
from kubectl.session import Obj, Session
from kubelite.api.errors import NotFound
from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite.api.registry import lookup

NODES = "nodes.metrics.k8s.io"
PODS = "pods.metrics.k8s.io"
MIB = 1024 * 1024


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("top", parents=parents, help="show CPU and memory use of nodes or pods",
                       description="kctl top node|pod [NAME]")
    what = p.add_subparsers(dest="what", metavar="node|pod", required=True, parser_class=type(p))
    for name, aliases in (("node", ["nodes", "no"]), ("pod", ["pods", "po"])):
        v = what.add_parser(name, aliases=aliases, parents=parents, help=f"resource use of {name}s")
        v.add_argument("name", nargs="?", default="")
        v.add_argument("-l", "--selector", default="", help="label selector")
        v.add_argument("--sort-by", default="", choices=["", "cpu", "memory"], help="sort by cpu or memory")
        v.add_argument("--no-headers", action="store_true", help="omit the header line")
        if name == "pod":
            v.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
            v.add_argument("--containers", action="store_true", help="one line per container")
    p.set_defaults(func=run)


def _cpu(q: str) -> int:
    return cpu_millis(q)


def _sum(containers: list[Obj], key: str) -> int:
    read = _cpu if key == "cpu" else memory_bytes
    return sum(read(c.get("usage", {}).get(key, "0")) for c in containers)


async def _metrics(session: Session, resource: str, namespace: str | None, name: str, selector: str) -> list[Obj]:
    try:
        return await session.client.read_unstored(resource, namespace or "", name, selector)
    except NotFound:
        if not name:
            raise
        what = f"pod {namespace}/{name}" if resource == PODS else f"node {name}"
        raise CliError(f"Metrics not available for {what}") from None


def _sorted(rows: list[tuple[Any, ...]], sort_by: str) -> list[tuple[Any, ...]]:
    """Rows are (cells..., cpu millis, memory bytes); sort highest first like kubectl."""
    if sort_by == "cpu":
        return sorted(rows, key=lambda r: -r[-2])
    if sort_by == "memory":
        return sorted(rows, key=lambda r: -r[-1])
    return rows


def _fmt(millis: int, nbytes: int) -> list[str]:
    return [f"{millis}m", f"{nbytes // MIB}Mi"]


async def top_nodes(session: Session, args: argparse.Namespace) -> list[list[str]]:
    metrics = await _metrics(session, NODES, None, args.name, args.selector)
    nodes, _ = await session.list(lookup("Node"), None, args.selector)
    alloc = {n["metadata"]["name"]: (n.get("status") or {}).get("allocatable") or (n.get("status") or {}).get(
        "capacity") or {} for n in nodes}
    rows: list[tuple[Any, ...]] = []
    for m in metrics:
        name = m["metadata"]["name"]
        cpu, mem = _cpu(m["usage"].get("cpu", "0")), memory_bytes(m["usage"].get("memory", "0"))
        a = alloc.get(name, {})
        cpu_cap, mem_cap = _cpu(a.get("cpu", "0")), memory_bytes(a.get("memory", "0"))
        rows.append((name, *_fmt(cpu, mem)[:1], f"{cpu * 100 // cpu_cap}%" if cpu_cap else "<unknown>",
                     _fmt(cpu, mem)[1], f"{mem * 100 // mem_cap}%" if mem_cap else "<unknown>", cpu, mem))
    if not rows:
        raise CliError("metrics not available yet")
    return [list(r[:-2]) for r in _sorted(rows, args.sort_by)]


async def top_pods(session: Session, args: argparse.Namespace) -> list[list[str]]:
    namespace = None if args.all_namespaces else session.namespace
    metrics = await _metrics(session, PODS, namespace, args.name, args.selector)
    rows: list[tuple[Any, ...]] = []
    for m in metrics:
        meta = m["metadata"]
        prefix = [meta.get("namespace", "")] if args.all_namespaces else []
        if args.containers:
            for c in m.get("containers", []):
                cpu, mem = _sum([c], "cpu"), _sum([c], "memory")
                rows.append((*prefix, meta["name"], c["name"], *_fmt(cpu, mem), cpu, mem))
        else:
            cpu, mem = _sum(m.get("containers", []), "cpu"), _sum(m.get("containers", []), "memory")
            rows.append((*prefix, meta["name"], *_fmt(cpu, mem), cpu, mem))
    return [list(r[:-2]) for r in _sorted(rows, args.sort_by)]


async def run(session: Session, args: argparse.Namespace) -> int:
    if args.what in ("node", "nodes", "no"):
        header = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
        rows = await top_nodes(session, args)
    else:
        header = (["NAMESPACE"] if args.all_namespaces else []) + ["POD" if args.containers else "NAME"] + (
            ["NAME"] if args.containers else []) + ["CPU(cores)", "MEMORY(bytes)"]
        rows = await top_pods(session, args)
        if not rows:
            where = "" if args.all_namespaces else f" in {session.namespace} namespace"
            warn(f"No resources found{where}.")
            return 0
    text, _ = render(None if args.no_headers else header, rows)
    write(text + "\n")
    return 0
