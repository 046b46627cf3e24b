"""A tiny in-pod HTTPS client image, built at test time from this machine's curl.

Why: the project's busybox image is static and its wget has no TLS, so a pod could
not make a verified HTTPS request to the apiserver. The image is the busybox layer
(a shell, `cat`, `sleep`) plus a layer with /usr/bin/curl, every shared library
`ldd` lists for it (at the path the loader looks in, the file behind any symlink),
and the CA bundle -- pushed to the cluster's registry with the same helpers
`kubelite up` seeds busybox with.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from kubelet.images.builder import BuiltImage, LayerEntry, build_busybox_image, build_image, build_layer
from kubelite.registry import push_built

CURL = Path("/usr/bin/curl")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REPOSITORY = "library/kl-curl"
TAG = "test"
IMAGE = f"kl-curl:{TAG}"


def shared_libraries(binary: Path) -> list[Path]:
    """The absolute paths `ldd` resolves for `binary` (and its loader), in order."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True, timeout=30).stdout
    found = []
    for line in out.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            found.append(Path(match.group(1)))
    return found


def curl_layer_entries(curl: Path = CURL) -> list[LayerEntry]:
    files = [curl, *shared_libraries(curl), CA_BUNDLE]
    dirs = sorted({str(parent).lstrip("/") for f in files for parent in f.parents if str(parent) != "/"})
    entries = [LayerEntry(f"{d}/", "dir", mode=0o755) for d in dirs]
    entries += [LayerEntry(str(f).lstrip("/"), "file", f.read_bytes(), 0o755 if f != CA_BUNDLE else 0o644)
                for f in files]
    return entries


def build_curl_image() -> BuiltImage:
    base = build_busybox_image(ref=IMAGE)
    layer = build_layer(curl_layer_entries())
    return build_image([*base.layers, layer], cmd=["sh"], refs=[IMAGE], created_by="tests/e2e/curlimage.py")


def push_curl_image(registry: str) -> str:
    """Build and push the image to `registry` (HOST:PORT); returns the name pods use."""
    image = build_curl_image()
    asyncio.run(push_built(registry, image, REPOSITORY, TAG))
    return IMAGE
