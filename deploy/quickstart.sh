#!/usr/bin/env bash
# Set up a fresh machine and start a local kubelite cluster running the demo in examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
NODES=${NODES:-2}

deploy/install-deps.sh
"$PY" -m kubelite.main up --nodes "$NODES"
"$PY" -m kubectl.main apply -f examples/
echo
echo "Waiting for the demo Deployment's pods to run..."
for _ in $(seq 1 120); do
  running=$("$PY" -m kubectl.main get pods -l app=hello --no-headers 2>/dev/null | grep -c ' Running ' || true)
  [ "$running" -ge 3 ] && break
  sleep 1
done
"$PY" -m kubectl.main get deploy,rs,pods -o wide
echo
echo "Demo is running. Try: kctl logs -f deploy/hello    Stop everything: kubelite down"
