"""DaemonSet controller (controller) and its pure per-node plan (plan)."""
