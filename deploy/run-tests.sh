#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install, check generated code,
# lint, type-check, then unit, simulation, integration and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

deploy/install-deps.sh
"$PY" tools/genproto.py --check
"$PY" -m ruff check .
"$PY" -m mypy kvstore apiserver scheduler controllers kubelet kubectl kubelite
"$PY" -m pytest -q -p no:cacheprovider --durations=15 tests "$@"
