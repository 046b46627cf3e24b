"""Installing kubelite claims no generic top-level name.

Why: `pip install kubelite` used to put packages called `api`, `client`, `daemon`,
`proxy` and `pb` into site-packages, where any other project's `api` or `client`
collides with them. The wheel is what pip installs, so its top-level entries are
exactly the names an install claims.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = {"kubelite", "kvstore", "apiserver", "scheduler", "controllers", "kubelet", "kubectl"}


def _tracked_copy(dest: Path) -> Path:
    """The tracked files only, so the build leaves nothing (build/, *.egg-info) in the checkout."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_the_wheel_installs_only_the_design_cards_top_level_names(tmp_path: Path) -> None:
    src = _tracked_copy(tmp_path / "src")
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, timeout=240)
    (wheel,) = out.glob("kubelite-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
    packages = {t for t in tops if not t.endswith((".dist-info", ".data"))}
    assert packages == EXPECTED
    for generic in ("api", "client", "daemon", "proxy", "pb"):
        assert generic not in packages
    with zipfile.ZipFile(wheel) as zf:
        assert "kubelite/pb/etcd/rpc_pb2.py" in zf.namelist()
