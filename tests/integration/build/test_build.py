"""`kubelite build` for real: runc RUN steps on overlays, the step cache, push, and failures.

Each test builds against its own docker-registry seeded with busybox, with its own layer cache.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kubelet.images.distribution import RegistryClient, RegistryOptions
from kubelet.images.errors import RegistryError
from kubelet.runc.overlay import mounts_under
from kubelite.build.builder import BuildError, BuildOptions, BuildResult, build
from kubelite.registry import seed_busybox
from tests.integration.kubelet.images.conftest import StartRegistry

pytestmark = [
    pytest.mark.requires_root("RUN steps use runc and overlayfs"),
    pytest.mark.skipif(shutil.which("runc") is None or not Path("/bin/busybox").is_file(),
                       reason="runc and busybox-static are needed"),
]


async def _registry(factory: StartRegistry) -> str:
    reg = await factory()
    await seed_busybox(reg.address)
    return reg.address


def _context(tmp: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    return ctx


async def _build(tmp: Path, address: str, lines: list[str], **kw: object) -> BuildResult:
    opts = BuildOptions(context=tmp / "ctx", cache_root=tmp / "cache", registry=address, **kw)  # type: ignore[arg-type]
    return await build(opts, lines.append)


def _layers(result: BuildResult) -> list[list[tarfile.TarInfo]]:
    out = []
    for layer in result.image.layers:
        with tarfile.open(fileobj=io.BytesIO(layer.blob)) as tar:
            out.append(tar.getmembers())
    return out


TWO_STAGE = """\
FROM busybox AS gen
ARG WHO=world
RUN mkdir /out && echo "hello $WHO" > /out/index.html && echo junk > /out/junk
RUN rm /out/junk
FROM busybox
COPY --from=gen /out/ /www/
COPY site.txt /www/
USER 1000
WORKDIR /www
ENV MODE=prod
EXPOSE 8080
LABEL app=web
STOPSIGNAL SIGINT
CMD ["busybox", "httpd", "-f", "-p", "8080"]
"""


async def test_two_stage_build_config_whiteout_and_push(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    _context(tmp_path, TWO_STAGE, {"site.txt": "site\n"})
    lines: list[str] = []
    gen = await _build(tmp_path, address, lines, target="gen", build_args={"WHO": "kubelite"})
    names = [[m.name for m in layer] for layer in _layers(gen)]
    assert "out/junk" in names[1] and "out/.wh.junk" in names[2], names  # the later RUN hides the file
    result = await _build(tmp_path, address, lines, tags=["web:1"], push=True, build_args={"WHO": "kubelite"},
                          output=tmp_path / "web.tar")
    config = json.loads(result.image.config)["config"]
    assert config["User"] == "1000" and config["WorkingDir"] == "/www"
    assert "MODE=prod" in config["Env"] and config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Cmd"] == ["busybox", "httpd", "-f", "-p", "8080"]
    assert config["Labels"] == {"app": "web"} and config["StopSignal"] == "SIGINT"
    copied = {m.name for layer in _layers(result)[1:] for m in layer}
    assert {"www/index.html", "www/site.txt"} <= copied and "www/junk" not in copied
    index_html = next(m for m in _layers(result)[1] if m.name == "www/index.html")
    assert index_html.size == len("hello kubelite\n")
    client = RegistryClient(address, None, RegistryOptions(insecure={address}))
    data, _, digest = await client.get_manifest("library/web", "1")
    assert digest == result.image.manifest_digest
    with tarfile.open(tmp_path / "web.tar") as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert index["manifests"][0]["digest"] == result.image.manifest_digest


async def test_unchanged_rebuild_reuses_every_layer(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    _context(tmp_path, TWO_STAGE, {"site.txt": "site\n"})
    first = await _build(tmp_path, address, [])
    lines: list[str] = []
    again = await _build(tmp_path, address, lines)
    layer_lines = [line for line in lines if " RUN " in line or " COPY " in line]
    assert layer_lines and all(line.endswith(" CACHED") for line in layer_lines), lines
    assert again.cached == again.layer_steps == 4
    assert again.seconds < 1.0, again.seconds
    assert again.image.manifest_digest == first.image.manifest_digest
    nocache = await _build(tmp_path, address, [], no_cache=True)
    assert nocache.cached == 0


async def test_changed_copy_source_rebuilds_from_that_step(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    dockerfile = "FROM busybox\nRUN echo a > /a\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g\n"
    ctx = _context(tmp_path, dockerfile, {"f.txt": "one\n"})
    await _build(tmp_path, address, [])
    (ctx / "f.txt").write_text("two\n")
    lines: list[str] = []
    await _build(tmp_path, address, lines)
    cached = {line.split(": ", 1)[1].removesuffix(" CACHED") for line in lines if line.endswith(" CACHED")}
    assert cached == {"RUN echo a > /a"}, lines
    assert any(line.startswith("step 4/4: RUN cat") for line in lines)


async def test_dockerignore_and_context_errors(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    ctx = _context(tmp_path, "FROM busybox\nCOPY . /app/\n",
                   {"keep.txt": "k", "secret.key": "s", "sub/x.txt": "x", ".dockerignore": "*.key\n"})
    result = await _build(tmp_path, address, [])
    names = {m.name for m in _layers(result)[1]}
    assert {"app/keep.txt", "app/sub/x.txt"} <= names and "app/secret.key" not in names
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY secret.key /\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: COPY: secret.key: excluded by .dockerignore"):
        await _build(tmp_path, address, [])
    (ctx / "Dockerfile").write_text("FROM busybox\n\nCOPY missing/file.txt /\n")
    with pytest.raises(BuildError, match=r"Dockerfile:3: COPY: missing/file.txt: not found in the build context"):
        await _build(tmp_path, address, [])
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY ../outside /\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: COPY: ../outside: is outside the build context"):
        await _build(tmp_path, address, [])
    os.symlink("/etc/passwd", ctx / "link")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY link /\n")
    with pytest.raises(BuildError, match="resolves outside the build context"):
        await _build(tmp_path, address, [])


async def test_failed_builds_write_nothing_and_clean_up(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    client = RegistryClient(address, None, RegistryOptions(insecure={address}))
    ctx = _context(tmp_path, "FROM busybox\n\n\n\n\n\nFORM x\n")
    with pytest.raises(BuildError, match="Dockerfile:7: unknown instruction: FORM"):
        await _build(tmp_path, address, [], tags=["bad:1"], push=True)
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nENV A=1\nRUN echo about to fail; exit 1\nRUN true\nENV B=2\nCMD true\nUSER 1\n")
    lines: list[str] = []
    with pytest.raises(BuildError) as info:
        await _build(tmp_path, address, lines, tags=["bad:1"], push=True)
    assert str(info.value) == "step 3/7: RUN echo about to fail; exit 1: the command exited with code 1"
    assert "  about to fail" in lines  # the step's output reached the user
    with pytest.raises(RegistryError):
        await client.get_manifest("library/bad", "1")
    assert mounts_under(tmp_path) == []
    runc_list = subprocess.run(["runc", "--root", str(tmp_path / "cache" / "runc"), "list", "-q"],
                               capture_output=True, text=True, check=True).stdout
    assert runc_list.strip() == ""
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


async def test_run_has_no_network_unless_host(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    _context(tmp_path, "FROM busybox\nRUN ip -o link | grep -v ': lo:' | wc -l > /links\n")
    result = await _build(tmp_path, address, [], output=tmp_path / "o.tar")
    with tarfile.open(fileobj=io.BytesIO(result.image.layers[1].blob)) as tar:
        f = tar.extractfile("links")
        assert f is not None and f.read().strip() == b"0"


async def test_heredoc_add_tar_chown_and_workdir(tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    ctx = _context(tmp_path, (
        "FROM busybox\n"
        "WORKDIR /srv/app\n"
        "ADD bundle.tar.gz vendor/\n"
        "COPY --chown=nobody --chmod=600 secret.txt ./\n"
        "RUN <<EOF\n"
        "set -e\n"
        "cat vendor/lib.txt > combined\n"
        "stat -c '%u:%g %a' secret.txt >> combined\n"
        "EOF\n"
        "RUN cat > /srv/app/two <<DONE\n"
        "line\n"
        "DONE\n"
    ), {"secret.txt": "s", "lib.txt": "from-tar\n"})
    with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as tar:
        tar.add(ctx / "lib.txt", arcname="lib.txt")
    result = await _build(tmp_path, address, [])
    layers = _layers(result)
    assert [m.name for m in layers[1]] == ["srv/", "srv/app/"] or [m.name for m in layers[1]] == ["srv", "srv/app"]
    assert "srv/app/vendor/lib.txt" in [m.name for m in layers[2]]
    secret = next(m for m in layers[3] if m.name == "srv/app/secret.txt")
    assert (secret.uid, secret.gid, secret.mode) == (65534, 65534, 0o600)
    with tarfile.open(fileobj=io.BytesIO(result.image.layers[4].blob)) as tar:
        f = tar.extractfile("srv/app/combined")
        assert f is not None and f.read() == b"from-tar\n65534:65534 600\n"
    with tarfile.open(fileobj=io.BytesIO(result.image.layers[5].blob)) as tar:
        f = tar.extractfile("srv/app/two")
        assert f is not None and f.read() == b"line\n"


async def test_host_network_run_sees_host_links_and_leaves_no_mount_points(
        tmp_path: Path, registry_factory: StartRegistry) -> None:
    address = await _registry(registry_factory)
    _context(tmp_path, "FROM busybox\nRUN ip -o link | grep -vc ': lo:' > /links; test -s /etc/resolv.conf\n")
    result = await _build(tmp_path, address, [], network="host")
    assert [m.name for m in _layers(result)[1]] == ["links"]  # no /etc or mount-point files in the diff
    with tarfile.open(fileobj=io.BytesIO(result.image.layers[1].blob)) as tar:
        f = tar.extractfile("links")
        assert f is not None and int(f.read()) >= 1
