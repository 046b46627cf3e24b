"""ReplicaSet controller (controller) and its pure scaling plan (plan)."""
