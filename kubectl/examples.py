"""`--help` examples of the commands whose modules predate per-command EXAMPLES.

Why a table applied by `kubectl.main`: every command's help must end with kubectl-style
examples (a unit test walks the parser); newer commands carry theirs in their own module,
these older ones get theirs here so their modules need not change shape.
"""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, str] = {
    "get": """\
  # List pods, wider, in every namespace
  kctl get pods -o wide -A

  # One deployment as YAML; several kinds at once
  kctl get deploy web -o yaml
  kctl get svc,deploy

  # Names and images with JSONPath, or as custom columns, sorted
  kctl get pods -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.spec.containers[*].image}{"\\n"}{end}'
  kctl get pods -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName --sort-by=.metadata.name

  # Add a column per label, and watch for changes
  kctl get pods -L app -w""",
    "describe": """\
  # Describe a node, a pod, every pod of an app
  kctl describe nodes node-1
  kctl describe pod/web-5d8c
  kctl describe pods -l app=web""",
    "delete": """\
  # Delete by file, by name, by label
  kctl delete -f ./web.yaml
  kctl delete pod web-5d8c
  kctl delete pods -l app=web

  # Delete a pod at once, without waiting for its containers (prints a warning)
  kctl delete pod web-5d8c --grace-period=0 --force""",
    "exec": """\
  # Run date in pod web, in its default container
  kctl exec web -- date

  # An interactive shell in container app
  kctl exec -it web -c app -- sh""",
    "scale": """\
  # Scale deployment web to 3 replicas
  kctl scale deploy/web --replicas=3

  # Only if it currently has 2
  kctl scale deployment web --current-replicas=2 --replicas=3""",
    "top": """\
  # CPU and memory use of every node, then of the pods of all namespaces, busiest first
  kctl top nodes
  kctl top pods -A --sort-by=cpu""",
    "top node": """\
  # CPU and memory use of node node-1
  kctl top node node-1""",
    "top pod": """\
  # Per-container use of the pods labelled app=web
  kctl top pods -l app=web --containers""",
    "rollout": """\
  # Watch a rollout, then roll back
  kctl rollout status deploy/web
  kctl rollout undo deploy/web --to-revision=2""",
    "rollout status": """\
  # Wait until the rollout of deployment web completes, at most 2 minutes
  kctl rollout status deploy/web --timeout=2m""",
    "rollout history": """\
  # The revisions of deployment web, and one in detail
  kctl rollout history deploy/web
  kctl rollout history deploy/web --to-revision=2""",
    "rollout undo": """\
  # Roll back deployment web to its previous revision, or to revision 3
  kctl rollout undo deploy/web
  kctl rollout undo deploy/web --to-revision=3""",
    "rollout pause": """\
  # Stop rolling out template changes of deployment web
  kctl rollout pause deploy/web""",
    "rollout resume": """\
  # Roll out the changes made while paused
  kctl rollout resume deploy/web""",
    "rollout restart": """\
  # Replace every pod of deployment web
  kctl rollout restart deploy/web""",
    "cordon": """\
  # Mark node-1 unschedulable
  kctl cordon node-1""",
    "uncordon": """\
  # Mark node-1 schedulable again
  kctl uncordon node-1""",
    "drain": """\
  # Move every pod off node-1 (DaemonSet pods stay), at most 5 minutes
  kctl drain node-1 --ignore-daemonsets --timeout=5m""",
    "version": """\
  # The client version, and the server's
  kctl version
  kctl version --client -o json""",
    "api-resources": """\
  # Every kind, and only the namespaced ones by name
  kctl api-resources
  kctl api-resources --namespaced=true -o name""",
    "auth": """\
  # May I create deployments? Who am I?
  kctl auth can-i create deployments
  kctl auth whoami""",
    "auth can-i": """\
  # Check an action, in a namespace, or as someone else
  kctl auth can-i create deployments -n dev
  kctl auth can-i list pods --as=jane""",
    "auth whoami": """\
  # The user and groups the server sees
  kctl auth whoami -o yaml""",
    "certificate": """\
  # Approve a node's pending certificate signing request; deny another
  kctl certificate approve node-csr-abc12
  kctl certificate deny suspicious-csr""",
    "certificate approve": """\
  # Approve one or more certificate signing requests
  kctl certificate approve node-csr-abc12 node-csr-def34""",
    "certificate deny": """\
  # Deny a certificate signing request (a decision is final)
  kctl certificate deny suspicious-csr""",
}


def subparsers(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (command path, parser) below `parser`, aliases once, depth first."""
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) in seen:
                    continue
                seen.add(id(child))
                full = f"{path} {name}".strip()
                found.append((full, child))
                found.extend(subparsers(child, full))
    return found


def attach(parser: argparse.ArgumentParser) -> None:
    """Give each command without an epilog its examples from the table."""
    for path, child in subparsers(parser):
        text = EXAMPLES.get(path)
        if child.epilog or not text:
            continue
        child.epilog = "Examples:\n" + text + "\n"
        child.formatter_class = argparse.RawDescriptionHelpFormatter
