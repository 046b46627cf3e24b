"""Execute one stage's filesystem instructions: FROM, RUN, COPY/ADD, WORKDIR.

Each filesystem step is looked up in the step cache first (key: parent key +
instruction after substitution + build args in scope + copied content digest);
on a miss it writes one layer with the kubelet's layer writer and stores it.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelet.images.builder import LayerEntry, build_layer
from kubelet.images.errors import ImagePullError
from kubelet.images.store import ImageStore
from kubelet.runc import bundle
from kubelet.runc.cli import Runc
from kubelet.runtime import Security
from kubelite.build.cache import Layer, LayerCache, entries_digest, step_key
from kubelite.build.context import BuildContext, ContextError
from kubelite.build.dockerfile import HEREDOC, Dockerfile, Instruction
from kubelite.build.fs import Owner, lookup, parent_entries, read_text, tree_entries
from kubelite.build.runstep import RunSpec, StepError, merged_view, run_step
from kubelite.build.state import StageState, StepFailure, workdir_path
from kubelite.build.words import expand, split_words

TAR_SUFFIX = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$")


class RunFailed(Exception):
    """A RUN command exited non-zero: the message names the step and exit code."""


@dataclass
class BuildEnv:
    """Everything the steps of one build share."""

    dockerfile: Dockerfile
    context: BuildContext
    cache: LayerCache
    images: ImageStore | None
    runc: Runc
    work: Path
    out: Callable[[str], None]
    build_args: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    used_args: set[str] = field(default_factory=set)
    no_cache: bool = False
    network: str = "none"
    pull: bool = False
    stages: dict[int, StageState] = field(default_factory=dict)
    stage_names: dict[str, int] = field(default_factory=dict)
    step: int = 0
    total: int = 0
    cached: int = 0


def _dirs(state: StageState) -> list[Path]:
    return [layer.dir for layer in state.layers]


async def from_image(env: BuildEnv, ref: str) -> StageState:
    """A stage's starting state from an image in the registry (pulled into the build's image store)."""
    if env.images is None:
        raise StepFailure(f"FROM {ref}: no registry to pull from (start a cluster, or pass --registry)")
    try:
        image = await env.images.ensure(ref, "Always" if env.pull else "IfNotPresent")
    except ImagePullError as exc:
        raise StepFailure(f"FROM {ref}: {exc}") from None
    doc = json.loads(env.images.blobs.read(image.id))
    config = doc.get("config") or {}
    if config.get("OnBuild"):
        raise StepFailure(f"FROM {ref}: the image has ONBUILD triggers, which kubelite build does not run")
    pairs = env.images.layer_blobs(image.id)
    layers = [Layer(digest, diff_id, env.images.blobs.path(digest), d)
              for (digest, diff_id), d in zip(pairs, image.layer_dirs, strict=True)]
    history = list(doc.get("history") or [])
    if sum(1 for h in history if not h.get("empty_layer")) != len(layers):
        history = [{"created_by": f"layer of {ref}"} for _ in layers]
    return StageState(layers, {"Env": [], **config}, history, step_key("FROM", image.id))


async def _layer_step(env: BuildEnv, state: StageState, key: str, created_by: str,
                      make: Callable[[], Any]) -> bool:
    """Reuse the cached layer for `key`, or run `make` (returns entries, or a Layer) and keep it."""
    layer = None if env.no_cache else await asyncio.to_thread(env.cache.get, key)
    cached = layer is not None
    if layer is None:
        made = await make()
        if isinstance(made, Layer):
            layer = made
        else:
            built = await asyncio.to_thread(build_layer, made)
            layer = await asyncio.to_thread(env.cache.store, built)
        await asyncio.to_thread(env.cache.put, key, layer)
    state.layers.append(layer)
    state.key = key
    state.record(created_by, empty=False)
    return cached


def _run_argv(ins: Instruction, state: StageState) -> list[str]:
    if ins.exec_form is not None:
        return ins.exec_form
    if ins.heredoc is not None:
        if ins.rest.startswith("<<"):
            return [*state.shell(), ins.heredoc]
        m = HEREDOC.search(ins.rest)
        assert m is not None
        return [*state.shell(), f"{ins.rest}\n{ins.heredoc}{m.group(3)}"]
    return [*state.shell(), ins.rest]


async def run(env: BuildEnv, state: StageState, ins: Instruction, header: str) -> bool:
    argv = _run_argv(ins, state)
    args = sorted(f"{k}={v}" for k, v in state.args.items())
    key = step_key(state.key, "RUN", json.dumps(argv), *args, env.network)
    spec = RunSpec(argv, state.run_env(), str(state.config.get("WorkingDir") or "/"),
                   str(state.config.get("User") or ""), env.network)

    async def make() -> list[LayerEntry]:
        env.out(header)
        work = env.work / f"step-{env.step}"
        try:
            result = await run_step(work, _dirs(state), spec, env.runc, lambda line: env.out("  " + line))
        except StepError as exc:
            raise StepFailure(f"RUN: {exc}") from None
        if result.exit_code != 0:
            raise RunFailed(f"{header}: the command exited with code {result.exit_code}")
        return result.entries

    return await _layer_step(env, state, key, f"RUN {' '.join(argv)}", make)


async def workdir(env: BuildEnv, state: StageState, ins: Instruction) -> bool | None:
    """WORKDIR sets the config; a missing directory also gets a layer creating it (None: no layer)."""
    path = workdir_path(ins, state, env.dockerfile.escape)
    state.config["WorkingDir"] = path
    rel = path.strip("/")
    if not rel or lookup(_dirs(state), rel) is not None:
        state.record(f"WORKDIR {path}", empty=True)
        return None
    entries = [*parent_entries(_dirs(state), rel, set()), LayerEntry(rel + "/", "dir", mode=0o755)]

    async def make() -> list[LayerEntry]:
        return entries

    return await _layer_step(env, state, step_key(state.key, "WORKDIR", path), f"WORKDIR {path}", make)


def _owner(state: StageState, chown: str) -> Owner | None:
    if not chown:
        return Owner()
    dirs = _dirs(state)
    try:
        uid, gid, _ = bundle.resolve_user(chown, Security(), read_text(dirs, "etc/passwd"),
                                          read_text(dirs, "etc/group"))
    except bundle.UserError as exc:
        raise StepFailure(f"--chown={chown}: {exc}") from None
    user, _, group = chown.partition(":")
    if not group and user.isdigit():
        gid = uid  # Docker: `--chown=10` means 10:10
    return Owner(uid, gid)


def _tar_entries(path: Path, dest: str, owner: Owner) -> list[LayerEntry]:
    """ADD of a local archive: its members under `dest` (unsafe names refused)."""
    out: list[LayerEntry] = []
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            name = posixpath.normpath(m.name.lstrip("/"))
            if name == "." or name.startswith("../"):
                continue
            full = f"{dest}/{name}" if dest else name
            if m.isdir():
                out.append(LayerEntry(full + "/", "dir", mode=m.mode & 0o7777, uid=owner.uid, gid=owner.gid))
            elif m.issym():
                out.append(LayerEntry(full, "symlink", target=m.linkname, mode=0o777, uid=owner.uid, gid=owner.gid))
            elif m.islnk():
                target = posixpath.normpath(m.linkname.lstrip("/"))
                out.append(LayerEntry(full, "hardlink", target=f"{dest}/{target}" if dest else target,
                                      uid=owner.uid, gid=owner.gid))
            elif m.isfile():
                f = tar.extractfile(m)
                out.append(LayerEntry(full, "file", f.read() if f else b"", m.mode & 0o7777, uid=owner.uid,
                                      gid=owner.gid))
    return out


def _root_sources(root: Path, pattern: str) -> list[tuple[str, Path]]:
    """COPY --from sources inside another stage's filesystem."""
    rel = posixpath.normpath(pattern.lstrip("/")) if pattern.strip("/") else "."
    if rel.startswith("../"):
        rel = rel.lstrip("./")
    if any(ch in rel for ch in "*?["):
        found = sorted(root.glob(rel))
        if not found:
            raise ContextError(f"{pattern}: no files match in the source stage")
        return [(p.relative_to(root).as_posix(), p) for p in found]
    path = root / rel
    if not path.exists() and not path.is_symlink():
        raise ContextError(f"{pattern}: not found in the source stage")
    return [(rel, path)]


def _copy_entries(env: BuildEnv, state: StageState, ins: Instruction, sources: list[tuple[str, Path]],
                  dest: str, owner: Owner | None, mode: int | None, from_context: bool) -> list[LayerEntry]:
    rel_dest = dest.strip("/")
    existing = lookup(_dirs(state), rel_dest) if rel_dest else None
    into_dir = dest.endswith("/") or not rel_dest or (existing is not None and existing.is_dir())
    if len(sources) > 1 and not into_dir:
        raise StepFailure(f"{ins.keyword}: with more than one source the destination must be a directory "
                          f"ending in / (got {dest!r})")
    entries: list[LayerEntry] = []
    for rel, path in sources:
        if path.is_dir():
            keep = env.context.keep_under(rel) if from_context else None
            entries += tree_entries(path, rel_dest, owner, mode, keep)
        elif ins.keyword == "ADD" and TAR_SUFFIX.search(path.name):
            entries += _tar_entries(path, rel_dest, owner or Owner())
        else:
            target = f"{rel_dest}/{posixpath.basename(rel)}" if into_dir else rel_dest
            entries += tree_entries(path, target.strip("/"), owner, mode)
    seen: set[str] = set()
    unique = [e for e in entries if not (e.path in seen or seen.add(e.path))]  # type: ignore[func-returns-value]
    parents: set[str] = set(seen)
    for e in unique:
        unique = [*parent_entries(_dirs(state), e.path.rstrip("/"), parents), *unique]
    return sorted(unique, key=lambda e: e.path)


async def copy(env: BuildEnv, state: StageState, ins: Instruction) -> bool:
    subst, escape = state.subst(), env.dockerfile.escape
    flags = {k: expand(v, subst, escape) for k, v in ins.flags.items()}
    words = ins.exec_form if ins.exec_form is not None else split_words(ins.rest, subst, escape)
    for word in words[:-1]:
        if re.match(r"^[a-z][a-z0-9+.-]*://", word) or word.startswith("git@"):
            raise StepFailure(f"{ins.keyword}: {word}: URLs are not supported (the build has no network "
                              "to fetch them); download the file into the context instead")
    dest = words[-1]
    trailing = dest.endswith(("/", "/.")) or dest in (".", "..")
    dest = posixpath.normpath(posixpath.join(str(state.config.get("WorkingDir") or "/"), dest))
    dest = dest.rstrip("/") + "/" if trailing else dest
    mode = int(flags["chmod"], 8) if "chmod" in flags and re.fullmatch(r"[0-7]{3,4}", flags["chmod"]) else None
    if "chmod" in flags and mode is None:
        raise StepFailure(f"{ins.keyword}: --chmod={flags['chmod']} is not an octal mode")
    source_from = flags.get("from", "")
    if not source_from:
        sources = [s for w in words[:-1] for s in env.context.sources(w)]
        entries = await asyncio.to_thread(_copy_entries, env, state, ins, sources, dest,
                                          _owner(state, flags.get("chown", "")), mode, True)
    else:
        other = await _source_stage(env, source_from)
        owner = _owner(state, flags["chown"]) if "chown" in flags else None
        work = env.work / f"from-{env.step}"

        def collect() -> list[LayerEntry]:
            with merged_view(work, _dirs(other)) as root:
                sources = [s for w in words[:-1] for s in _root_sources(root, w)]
                return _copy_entries(env, state, ins, sources, dest, owner, mode, False)

        entries = await asyncio.to_thread(collect)
    text = ' '.join([ins.keyword, *(f'--{k}={v}' for k, v in sorted(flags.items())), *words])
    key = step_key(state.key, text, entries_digest(entries))

    async def make() -> list[LayerEntry]:
        return entries

    return await _layer_step(env, state, key, text, make)


async def _source_stage(env: BuildEnv, name: str) -> StageState:
    index = env.stage_names.get(name.lower(), int(name) if name.isdigit() else -1)
    if index in env.stages:
        return env.stages[index]
    if index >= 0 or name.isdigit():
        raise StepFailure(f"--from={name}: that stage is not built before this one")
    return await from_image(env, name)
