"""The `kubelite` entry point: every daemon, plus `up`/`down`/`status` for a local cluster."""
