"""Sample running daemons with py-spy during a benchmark and print where their time went.

Why a sampler attached from outside: the figures must come from the real
process under the real load (gRPC threads, the event loop, fsync worker), and
py-spy needs no change to the daemon and costs it little (`--nonblocking`).

    prof = Profiler(Path("/tmp/prof"))     # one collapsed-stack file per process
    prof.attach("kv-1", pid)               # starts `py-spy record`
    ...load...
    prof.stop()                            # py-spy writes its files on SIGINT
    print(summary(prof.files["kv-1"]))     # top functions by own and by total samples

`python bench/profiling.py FILE [--top N]` summarizes a file recorded earlier
(py-spy's `--format raw`, one "frame;frame;... count" line per stack).
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _frame(text: str) -> str:
    """`handle (kvstore/node.py:123)` -> `handle (kvstore/node.py)`: one entry per function."""
    return _LINE.sub(")", text.strip())


class Profiler:
    """py-spy recorders attached to processes by pid (a no-op list when py-spy is missing)."""

    def __init__(self, out_dir: Path, rate: int = 200) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self.files: dict[str, Path] = {}
        self._procs: list[subprocess.Popen[bytes]] = []
        self.exe = shutil.which("py-spy")
        if self.exe is None:
            raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
        out_dir.mkdir(parents=True, exist_ok=True)

    def attach(self, name: str, pid: int) -> None:
        assert self.exe is not None
        path = self.out_dir / f"{name}.txt"
        self.files[name] = path
        self._procs.append(subprocess.Popen(
            [self.exe, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw",
             "--nonblocking", "--output", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for p in self._procs:
            p.send_signal(signal.SIGINT)
        for p in self._procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs.clear()


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def summary(path: Path, top: int = 15) -> str:
    """The functions with the most samples of their own, and with the most samples below them."""
    stacks = load(path)
    total = sum(c for _, c in stacks) or 1
    own: Counter[str] = Counter()
    below: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for f in set(frames):
            below[f] += count
    lines = [f"{path.stem}: {total} samples"]
    for title, counter in (("own", own), ("total", below)):
        lines.append(f"  top by {title} time:")
        lines += [f"    {100 * c / total:5.1f}%  {f}" for f, c in counter.most_common(top)]
    return "\n".join(lines)


def profile_apiserver(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> Profiler | None:
    """With `--py-spy DIR`: py-spy records the apiserver (the last process started) and every
    kvstore member before it (`kv-1`, ...) from now on: a create's cost is split between them."""
    if not args.py_spy:
        return None
    prof = Profiler(Path(args.py_spy), rate=100)
    prof.attach("apiserver", procs[-1].pid)
    for i, p in enumerate(procs[:-1], 1):
        prof.attach(f"kv-{i}", p.pid)
    return prof


def stop_profile(prof: Profiler | None) -> None:
    if prof is not None:
        prof.stop()
        for name, path in prof.files.items():
            print(summary(path, top=25 if name == "apiserver" else 15))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    for f in args.files:
        print(summary(f, args.top))


if __name__ == "__main__":
    main()
