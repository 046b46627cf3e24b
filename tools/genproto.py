"""Generate the Python gRPC stubs in ``kubelite/pb/`` from the sources in ``proto/``.

One command for everyone (developers and CI)::

    python tools/genproto.py          # regenerate kubelite/pb/
    python tools/genproto.py --check  # exit 1 if kubelite/pb/ is stale

The generated files are committed so that ``pip install -e .`` needs no protoc;
``--check`` keeps them honest.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_PACKAGE = "kubelite/pb"


def _proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def _generate(out_dir: Path) -> None:
    files = _proto_files()
    if not files:
        raise SystemExit("no .proto files under proto/")
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", f"--pyi_out={out_dir}",
        *[str(f.relative_to(PROTO_ROOT)) for f in files],
    ]
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
    # Make every generated directory an importable package.
    for d in [out_dir / OUT_PACKAGE, *(p for p in (out_dir / OUT_PACKAGE).rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()


def _tree(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _generate(out)
        fresh, current = _tree(out / OUT_PACKAGE), _tree(ROOT / OUT_PACKAGE)
        if args.check:
            stale = sorted(
                name for name in set(fresh) | set(current)
                if name not in fresh or name not in current or not filecmp.cmp(fresh[name], current[name], shallow=False)
            )
            if stale:
                print("generated stubs are stale; run: python tools/genproto.py", file=sys.stderr)
                for name in stale:
                    print(f"  {OUT_PACKAGE}/{name}", file=sys.stderr)
                return 1
            print(f"{OUT_PACKAGE}/ is up to date")
            return 0
        shutil.rmtree(ROOT / OUT_PACKAGE, ignore_errors=True)
        shutil.copytree(out / OUT_PACKAGE, ROOT / OUT_PACKAGE)
        print(f"generated {len(fresh)} files in {OUT_PACKAGE}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
