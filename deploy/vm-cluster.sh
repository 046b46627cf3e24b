#!/usr/bin/env bash
# A kubelite cluster on real QEMU VMs (needs root): builds a cached Debian 12 image with mmdebstrap,
# boots N VMs on a private bridge in a network namespace, runs `kubelite init` in the first and the
# printed `kubelite join` in the others, applies the demo, checks it and prints timings.
#   deploy/vm-cluster.sh [up] [--vms N] [--accel tcg|kvm] [--keep] ...   (see --help)
#   deploy/vm-cluster.sh down      stop the VMs; remove taps, bridge, namespace and overlays
# The logic is the Python module kubelite/vmcluster (standard library only on the host); it cleans
# up on failure, Ctrl-C and SIGTERM itself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Host tools: mmdebstrap (image), QEMU, qemu-img, mkfs.ext4, ssh.
need=()
for tool in mmdebstrap:mmdebstrap qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
            mkfs.ext4:e2fsprogs ssh:openssh-client; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ] && [ "${1:-up}" != down ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need[*]}" >&2
    exit 1
  fi
fi
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m kubelite.vmcluster "$@"
