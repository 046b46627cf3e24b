#!/usr/bin/env bash
# Install everything kubelite needs on a fresh Debian 12 machine (idempotent):
# Debian packages used by tests and conformance checks, then kubelite itself
# with its dev tools (pip, editable).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Runtime parts (runc, conmon, CNI plugins, iptables, iproute2), the project-built busybox
# image's source (busybox-static), the local registry (docker-registry), and real
# etcd 3.4 server+client for conformance checks and the kvstore benchmark, and real kubectl
# (with kustomize) that the e2e tests drive against the Kubernetes HTTPS API, and nginx
# (the ingress controller runs real nginx on every node), and curl + CA bundle (the in-pod HTTPS client image
# the ServiceAccount e2e test builds from the host's curl).
APT_PACKAGES=(etcd-client etcd-server runc conmon containernetworking-plugins iptables iproute2
  busybox-static docker-registry skopeo apache2-utils openssl procps util-linux kubectl nginx curl ca-certificates)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

"$PY" -m pip install -q --disable-pip-version-check -e '.[dev]'
# pyenv installs console scripts behind shims that need a rehash to appear on PATH.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
