"""Build an image from a Dockerfile: stages in order, then the image, an archive, a push.

Why the push comes last and all at once: the registry only ever sees complete
images (blobs, then the manifest that names them), so a build failing at any
step leaves nothing under the tag; step containers and mounts are removed by
the step itself, and the build's scratch directory by this module.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubelet.images.builder import BuiltImage, BuiltLayer, build_image, tar_directory, write_oci_layout
from kubelet.images.errors import RegistryError
from kubelet.images.reference import InvalidReference
from kubelet.images.store import ImageStore
from kubelet.runc.cli import Runc
from kubelite.build import stage as steps
from kubelite.build.cache import LayerCache, step_key
from kubelite.build.context import BuildContext, ContextError
from kubelite.build.dockerfile import Dockerfile, DockerfileError, Instruction, Stage, parse
from kubelite.build.state import StageState, StepFailure, apply_config, declare_args
from kubelite.build.words import WordError, expand, split_words
from kubelite.image import target_of
from kubelite.registry import push_built

IMAGE_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User")


class BuildError(Exception):
    """A failed build, phrased for the user (file:line, step, exit code)."""


@dataclass
class BuildOptions:
    context: Path
    cache_root: Path
    dockerfile: Path | None = None  # default: CONTEXT/Dockerfile
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    network: str = "none"
    registry: str | None = None  # where FROM pulls and --push pushes
    push: bool = False
    output: Path | None = None  # an OCI layout tar
    pull: bool = False  # re-check base images' tags in the registry (else the build's copy is used)
    runc: str = "runc"


@dataclass
class BuildResult:
    image: BuiltImage
    steps: int
    layer_steps: int
    cached: int
    seconds: float  # parsing, steps and the image; not the archive or the push
    pushed: list[str] = field(default_factory=list)


def _meta_args(df: Dockerfile, build_args: dict[str, str], used: set[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for ins in df.meta_args:
        for word in split_words(ins.rest, meta, df.escape):
            name, eq, default = word.partition("=")
            if name in build_args:
                meta[name] = build_args[name]
                used.add(name)
            elif eq:
                meta[name] = default
    return meta


def _needed(df: Dockerfile, target: Stage, meta: dict[str, str]) -> list[Stage]:
    """The target and the stages it uses (FROM <stage>, COPY --from=<stage>), in file order."""
    names = {s.name: s for s in df.stages if s.name}
    want: set[int] = set()

    def visit(s: Stage) -> None:
        if s.index in want:
            return
        want.add(s.index)
        refs = [expand(s.base, meta, df.escape)] + [ins.flags["from"] for ins in s.instructions
                                                   if "from" in ins.flags]
        for ref in refs:
            dep = names.get(ref.lower()) or (df.stages[int(ref)] if ref.isdigit() and int(ref) < s.index else None)
            if dep is not None and dep.index < s.index:
                visit(dep)

    visit(target)
    return [s for s in df.stages if s.index in want]


async def _from(env: steps.BuildEnv, s: Stage) -> StageState:
    base = expand(s.base, env.meta, env.dockerfile.escape)
    if base.lower() == "scratch":
        return StageState(key=step_key("FROM", "scratch"))
    dep = env.stage_names.get(base.lower())
    if dep is not None and dep < s.index:
        return env.stages[dep].fork()
    return await steps.from_image(env, base)


async def _instruction(env: steps.BuildEnv, state: StageState, ins: Instruction, header: str) -> bool | None:
    """Run one instruction; True/False: a layer step (cached or not), None: config only."""
    escape = env.dockerfile.escape
    if ins.keyword == "RUN":
        return await steps.run(env, state, ins, header)
    if ins.keyword in ("COPY", "ADD"):
        return await steps.copy(env, state, ins)
    if ins.keyword == "WORKDIR":
        return await steps.workdir(env, state, ins)
    if ins.keyword == "ARG":
        declare_args(ins, state, env.build_args, env.meta, escape, env.used_args)
    else:
        apply_config(ins, state, escape)
    state.key = step_key(state.key, ins.keyword, ins.original, *sorted(f"{k}={v}" for k, v in state.args.items()))
    state.record(ins.original, empty=True)
    return None


async def _run_stages(env: steps.BuildEnv, stages: list[Stage]) -> tuple[StageState, int]:
    layer_steps = 0
    state = StageState()
    for s in stages:
        env.step += 1
        env.out(f"step {env.step}/{env.total}: FROM {s.base}" + (f" AS {s.name}" if s.name else ""))
        try:
            state = await _from(env, s)
        except StepFailure as exc:
            raise BuildError(f"{env.dockerfile.path}:{s.line}: {exc}") from None
        for ins in s.instructions:
            env.step += 1
            header = f"step {env.step}/{env.total}: {ins.original}"
            try:
                done = await _instruction(env, state, ins, header)
            except steps.RunFailed as exc:
                raise BuildError(str(exc)) from None
            except (StepFailure, ContextError, WordError, OSError) as exc:
                raise BuildError(f"{env.dockerfile.path}:{ins.line}: {ins.keyword}: {exc}".replace(
                    f"{ins.keyword}: {ins.keyword}: ", f"{ins.keyword}: ")) from None
            if done is None:
                env.out(header)
            else:
                layer_steps += 1
                if done:
                    env.cached += 1
                    env.out(f"{header} CACHED")
                elif ins.keyword != "RUN":
                    env.out(header)
        env.stages[s.index] = state
    return state, layer_steps


def _image(state: StageState, tags: list[str]) -> BuiltImage:
    layers = [BuiltLayer(layer.blob.read_bytes(), layer.digest, layer.diff_id) for layer in state.layers]
    cfg = state.config
    extra = {k: v for k, v in cfg.items() if k not in IMAGE_KEYS and v not in (None, {}, [])}
    return build_image(layers, cmd=cfg.get("Cmd"), entrypoint=cfg.get("Entrypoint"), env=list(cfg.get("Env") or []),
                       working_dir=str(cfg.get("WorkingDir") or ""), user=str(cfg.get("User") or ""),
                       refs=tags, extra_config=extra, history=state.history)


def _write_archive(image: BuiltImage, dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        layout = write_oci_layout(image, Path(tmp) / "layout")
        part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}")
        tar_directory(layout, part)
        part.replace(dest)


async def build(opts: BuildOptions, out: Callable[[str], None]) -> BuildResult:
    started = time.monotonic()
    dockerfile = opts.dockerfile or opts.context / "Dockerfile"
    try:
        text = dockerfile.read_text()
    except OSError as exc:
        raise BuildError(f"cannot read {dockerfile}: {exc.strerror}") from None
    for tag in opts.tags:
        try:
            target_of(tag)
        except InvalidReference as exc:
            raise BuildError(f"-t {tag}: {exc}") from None
    try:
        df = parse(text, dockerfile.name if dockerfile.parent == opts.context else str(dockerfile))
        context = BuildContext(opts.context)
        used: set[str] = set()
        meta = _meta_args(df, opts.build_args, used)
        target = df.stage(opts.target) if opts.target else df.stages[-1]
        stages = _needed(df, target, meta)
    except (DockerfileError, ContextError, WordError) as exc:
        raise BuildError(str(exc)) from None
    cache = LayerCache(opts.cache_root)
    work = opts.cache_root / "tmp" / uuid.uuid4().hex
    work.mkdir(parents=True)
    images = (ImageStore(opts.cache_root / "images", default_registry=opts.registry)
              if opts.registry else None)
    env = steps.BuildEnv(df, context, cache, images, Runc(opts.runc, opts.cache_root / "runc"), work, out,
                         dict(opts.build_args), meta, used, opts.no_cache, opts.network, opts.pull,
                         stage_names={s.name: s.index for s in df.stages if s.name},
                         total=sum(1 + len(s.instructions) for s in stages))
    try:
        state, layer_steps = await _run_stages(env, stages)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    unused = sorted(set(opts.build_args) - env.used_args)
    if unused:
        out(f"warning: build args not consumed by any ARG: {', '.join(unused)}")
    image = await asyncio.to_thread(_image, state, opts.tags)
    result = BuildResult(image, env.step, layer_steps, env.cached, time.monotonic() - started)
    if opts.output is not None:
        await asyncio.to_thread(_write_archive, image, opts.output)
        out(f"wrote {opts.output} (OCI layout, {image.manifest_digest})")
    if opts.push:
        if not opts.registry:
            raise BuildError("--push: no registry (start a cluster with `kubelite up`, or pass --registry)")
        for tag in opts.tags:
            repository, ref = target_of(tag)
            try:
                digest = await push_built(opts.registry, image, repository, ref)
            except RegistryError as exc:
                raise BuildError(f"push of {tag} to {opts.registry} failed: {exc}") from None
            result.pushed.append(f"{opts.registry}/{repository}:{ref}@{digest}")
    return result
