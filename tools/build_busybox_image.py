#!/usr/bin/env python3
"""Build the cluster's `busybox` image from Debian's busybox-static, as an OCI image layout.

    python tools/build_busybox_image.py OUT [--busybox /bin/busybox] [--ref busybox:latest] [--tar]

OUT becomes an OCI image layout directory (or, with --tar, a tar of one that
`kubelite image load OUT` accepts). The output is reproducible: the same
busybox binary always gives the same digests. Prints the manifest digest.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from kubelet.images.builder import build_busybox_image, tar_directory, write_oci_layout  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build_busybox_image.py", description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output directory (or tar file with --tar)")
    p.add_argument("--busybox", type=Path, default=Path("/bin/busybox"), help="static busybox binary")
    p.add_argument("--ref", default="busybox:latest", help="image name written into the layout index")
    p.add_argument("--tar", action="store_true", help="write one tar file instead of a directory")
    args = p.parse_args(argv)
    try:
        image = build_busybox_image(args.busybox, args.ref)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.tar:
        with tempfile.TemporaryDirectory() as tmp:
            tar_directory(write_oci_layout(image, Path(tmp) / "layout"), args.out)
    else:
        if args.out.exists():
            shutil.rmtree(args.out)
        write_oci_layout(image, args.out)
    print(image.manifest_digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
