"""Deployment controller: rolls a template out through ReplicaSets (controller), rollout history and undo (rollout), status and conditions (status), the pod-template-hash (templatehash)."""
