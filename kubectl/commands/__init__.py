"""One module per kctl command; each exposes `add_parser(subparsers)` and an async `run`."""
