"""Job controller (controller) and its pure completion/parallelism plan (plan)."""
