"""`kubelite build -t NAME[:TAG] [flags] CONTEXT`: the command line of the image builder.

Defaults follow the cluster: when a local cluster's registry is recorded under
the data dir and answers, FROM pulls from it, the result is pushed to it (so
`image: NAME:TAG` works on every node) and the layer cache lives in
`<data-dir>/build`; without a cluster the cache is `~/.cache/kubelite/build`
and nothing is pushed unless `--registry` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from kubelite.build.builder import BuildError, BuildOptions, build
from kubelite.localcluster import default_data_dir
from kubelite.registry import load_registry, registry_answers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite build", description="build an image from a Dockerfile")
    p.add_argument("context", type=Path, help="the build context directory")
    p.add_argument("-t", "--tag", action="append", default=[], dest="tags", help="NAME[:TAG] (repeatable)")
    p.add_argument("-f", "--file", type=Path, default=None, help="the Dockerfile (default: CONTEXT/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE", help="set a build ARG")
    p.add_argument("--target", default="", help="build up to this stage (name or index)")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached layers")
    p.add_argument("--pull", action="store_true", help="always ask the registry for newer base images")
    p.add_argument("--network", choices=("none", "host"), default="none", help="network of RUN steps")
    push = p.add_mutually_exclusive_group()
    push.add_argument("--push", dest="push", action="store_true", default=None,
                      help="push to the registry (default when a local cluster is running)")
    push.add_argument("--no-push", dest="push", action="store_false")
    p.add_argument("--output", default=None, metavar="type=oci,dest=FILE.tar", help="also write an OCI archive")
    p.add_argument("--registry", default=None, help="registry HOST:PORT (default: the cluster's)")
    p.add_argument("--data-dir", type=Path, default=None, help="the cluster's data directory")
    p.add_argument("--cache-dir", type=Path, default=None, help="layer cache directory")
    return p


def parse_output(text: str) -> Path:
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    if fields.get("type") != "oci" or not fields.get("dest"):
        raise BuildError(f"--output {text}: only type=oci,dest=FILE.tar is supported")
    return Path(fields["dest"]).resolve()


def parse_build_args(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key or not eq:
            raise BuildError(f"--build-arg {item}: expected KEY=VALUE")
        out[key] = value
    return out


async def options(args: argparse.Namespace) -> tuple[BuildOptions, list[str]]:
    """The build options, and lines telling the user which registry/cache were chosen."""
    notes = []
    data_dir = (args.data_dir or default_data_dir()).resolve()
    registry = args.registry
    cluster = False
    if registry is None:
        reg = load_registry(data_dir)
        if reg is not None and await registry_answers(reg.address):
            registry, cluster = reg.address, True
    cache = args.cache_dir or (data_dir / "build" if cluster else Path.home() / ".cache" / "kubelite" / "build")
    push = args.push if args.push is not None else cluster
    if push and not args.tags:
        raise BuildError("--push needs a name: -t NAME[:TAG]")
    notes.append(f"registry: {registry or 'none (only FROM scratch works; pass --registry)'}; "
                 f"layer cache: {cache}")
    opts = BuildOptions(
        context=args.context.resolve(), cache_root=cache.resolve(),
        dockerfile=args.file.resolve() if args.file else None, tags=list(args.tags),
        build_args=parse_build_args(args.build_arg), target=args.target, no_cache=args.no_cache,
        network=args.network, registry=registry, push=push, pull=args.pull,
        output=parse_output(args.output) if args.output else None)
    return opts, notes


def _print(line: str) -> None:
    print(line, flush=True)


async def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        opts, notes = await options(args)
        for line in notes:
            _print(line)
        started = time.monotonic()
        result = await build(opts, _print)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    _print(f"built {result.image.manifest_digest} in {result.seconds:.2f}s "
           f"({result.cached}/{result.layer_steps} layer steps cached)")
    for line in result.pushed:
        _print(f"pushed {line}")
    if result.pushed or opts.output:
        _print(f"total with output/push: {time.monotonic() - started:.2f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return 130
