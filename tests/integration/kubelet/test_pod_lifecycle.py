"""Pod lifecycle features through a real kubelet (process runtime) and apiserver.

What a user observes: env from ConfigMaps/Secrets and the downward API;
configMap/secret volume files that follow the objects; a missing ConfigMap
reported as CreateContainerConfigError until it appears; a failing liveness
probe restarting the container with Unhealthy/Killing events; a readiness
probe gating Ready; `exec` through the apiserver (stdout, stderr, stdin, exit
code, and `kctl exec`'s own exit code); image pulls with
ErrImagePull -> ImagePullBackOff -> Running and imagePullSecrets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubelet.agent import Kubelet
from kubelet.backoff import BackOff
from kubelet.images.errors import ImagePullError
from kubelet.process_runtime import ProcessRuntime
from kubelet.runtime import PodSandboxConfig, SandboxError
from kubelet.volumes import pod_volumes_dir
from kubelite.api import ConfigMap, Event, Pod, Secret
from kubelite.api.errors import ApiError, NotFound
from kubelite.client import ApiClient
from kubelite.procs import live_pids_with
from tests.integration.kubelet.harness import kubelet_on
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
NODE = "node-lc"
NODE_IP = "127.0.0.12"
MARKER = f"kubelet-lc-{uuid.uuid4().hex[:8]}"




def marked_processes() -> list[int]:
    return live_pids_with(MARKER)


class FakeImages:
    """An image store whose registry is up or down at the test's command."""

    default_registry = "reg.test:5000"

    def __init__(self) -> None:
        self.up = False
        self.auths: list[Any] = []

    async def ensure(self, ref: str, policy: str, auth: Any, on_event: Callable[[str, str], None]) -> Any:
        self.auths.append(auth)
        on_event("Pulling", f'Pulling image "{ref}"')
        if not self.up:
            raise ImagePullError("ErrImagePull", f"{ref}: registry reg.test:5000 is unreachable")
        on_event("Pulled", f'Successfully pulled image "{ref}"')
        return None


class GatedSandboxes(ProcessRuntime):
    """A runtime whose pod sandboxes are made only once the test opens the gate, or fail
    while `failure` is set (a CNI that is slow or broken)."""

    def __init__(self) -> None:
        super().__init__(host_ip=NODE_IP)
        self.gate = asyncio.Event()
        self.failure = ""

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        await self.gate.wait()
        if self.failure:
            raise SandboxError(self.failure)
        return await super().run_pod_sandbox(config)


def running_kubelet(server: str, data_dir: Path, images: FakeImages | None = None,
                    runtime: ProcessRuntime | None = None) -> AbstractAsyncContextManager[Kubelet]:
    def quick_pull_backoff(kubelet: Kubelet) -> None:
        kubelet.pods.ctx.images.backoff = BackOff(0.5, 2.0)

    return kubelet_on(server, data_dir, NODE, NODE_IP, runtime=runtime or ProcessRuntime(host_ip=NODE_IP),
                      images=images, before_start=quick_pull_backoff, leftovers=marked_processes,
                      resync_seconds=0.3)


@pytest.fixture
async def kubelet(control_plane: Any, tmp_path: Path) -> AsyncIterator[Kubelet]:
    async with running_kubelet(control_plane.server, tmp_path / "node") as k:
        yield k


def make_pod(name: str, script: str, **extra: Any) -> Pod:
    container = {"name": "main", "image": "busybox", "command": ["sh", "-c", script, MARKER]}
    container.update(extra.pop("container", {}))
    return Pod.from_dict({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [container], **extra},
    })


def main_status(pod: Pod) -> Any:
    return next((s for s in pod.status.container_statuses if s.name == "main"), None)


async def wait_pod(client: ApiClient, name: str, check: Callable[[Pod], bool], what: str,
                   timeout: float = 20.0) -> Pod:
    async def probe() -> Pod | None:
        pod = await client.get(Pod, name)
        return pod if check(pod) else None

    return await eventually(probe, f"pod {name}: {what}", timeout)


def running(pod: Pod) -> bool:
    s = main_status(pod)
    return pod.status.phase == "Running" and s is not None and s.state.running is not None


async def read_logs(client: ApiClient, name: str) -> str:
    return b"".join([chunk async for chunk in client.logs("default", name)]).decode()


async def events_of(client: ApiClient, name: str) -> list[tuple[str, str]]:
    items = (await client.list(Event, "default")).items
    return [(e.reason or "", e.message or "") for e in items if e.involved_object.name == name]


async def test_env_and_volumes_from_config_maps_and_secrets(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(ConfigMap.from_dict({"metadata": {"name": "app"},
                                             "data": {"color": "blue", "app.conf": "level=1\n"}}))
    await client.create(Secret.from_dict({"metadata": {"name": "creds"},
                                          "data": {"password": base64.b64encode(b"s3cret").decode()}}))
    script = 'echo "env:$COLOR:$PW:$CM_color:$NODE:$IP:$MEM"; sleep 1000'
    pod = make_pod("cfg", script, container={
        "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "CM_"}],
        "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "color"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}],
        "resources": {"limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "conf", "mountPath": "/etc/app"}, {"name": "sec", "mountPath": "/etc/sec"},
                         {"name": "scratch", "mountPath": "/scratch"}],
    }, volumes=[{"name": "conf", "configMap": {"name": "app", "items": [{"key": "app.conf", "path": "app.conf"}]}},
                {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                {"name": "scratch", "emptyDir": {}}])
    created = await client.create(pod)
    await wait_pod(client, "cfg", running, "running")

    async def env_line() -> str | None:
        logs = await read_logs(client, "cfg")
        return logs if "env:" in logs else None

    assert f"env:blue:s3cret:blue:{NODE}:{NODE_IP}:64" in await eventually(env_line, "the env line")
    vols = kubelet.cfg.data_dir / "volumes" / f"default_cfg_{created.metadata.uid}"
    assert (vols / "conf" / "app.conf").read_text() == "level=1\n"
    assert (vols / "sec" / "password").read_bytes() == b"s3cret"
    assert oct((vols / "sec" / "password").stat().st_mode & 0o777) == oct(0o400)
    assert (vols / "scratch").is_dir()

    cm = await client.get(ConfigMap, "app")
    cm.data["app.conf"] = "level=2\n"
    await client.update(cm)

    async def updated() -> bool:
        return (vols / "conf" / "app.conf").read_text() == "level=2\n"

    await eventually(updated, "the configMap volume to follow the update")
    await client.delete(Pod, "cfg")

    async def cleaned() -> bool:
        return not vols.exists()

    await eventually(cleaned, "volumes removed with the pod")


async def test_missing_config_map_waits_with_create_container_config_error(
    control_plane: Any, kubelet: Kubelet
) -> None:
    client: ApiClient = control_plane.client
    await client.create(make_pod("needs-cm", "echo $V; sleep 1000", container={
        "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "v"}}}]}))

    def config_error(pod: Pod) -> bool:
        s = main_status(pod)
        return s is not None and s.state.waiting is not None and s.state.waiting.reason == "CreateContainerConfigError"

    pod = await wait_pod(client, "needs-cm", config_error, "CreateContainerConfigError")
    assert 'configmap "later" not found' in (main_status(pod).state.waiting.message or "")
    assert pod.status.phase == "Pending"
    await client.create(ConfigMap.from_dict({"metadata": {"name": "later"}, "data": {"v": "now"}}))
    await wait_pod(client, "needs-cm", running, "running once the ConfigMap exists")
    await client.delete(Pod, "needs-cm")


async def test_failing_liveness_probe_restarts_the_container(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(make_pod("sick", "sleep 1000", container={
        "livenessProbe": {"exec": {"command": ["sh", "-c", "exit 1"]}, "periodSeconds": 1, "failureThreshold": 1}}))

    def restarted(pod: Pod) -> bool:
        s = main_status(pod)
        return s is not None and s.restart_count >= 1

    await wait_pod(client, "sick", restarted, "a restart by the liveness probe", timeout=30)

    async def probe_events() -> bool:
        events = await events_of(client, "sick")
        return any(r == "Unhealthy" and m.startswith("Liveness probe failed") for r, m in events) and any(
            r == "Killing" and "failed liveness probe, will be restarted" in m for r, m in events)

    await eventually(probe_events, "Unhealthy and Killing events")
    await client.delete(Pod, "sick")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs busybox (httpd) at /bin/busybox")
async def test_readiness_probe_gates_ready(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    port = free_port()
    created = await client.create(make_pod(
        "gated", f"mkdir -p www; exec /bin/busybox httpd -f -p 127.0.0.1:{port} -h www", container={
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
                               "failureThreshold": 1}}))

    def condition(pod: Pod, type_: str) -> str:
        return next((c.status for c in pod.status.conditions if c.type == type_), "")

    # Running, but not Ready while /ready answers 404.
    pod = await wait_pod(client, "gated", lambda p: condition(p, "ContainersReady") == "False" and running(p),
                         "running but not ready")
    assert condition(pod, "Ready") == "False" and not main_status(pod).ready
    www = kubelet.cfg.data_dir / "sandboxes" / f"default_gated_{created.metadata.uid}" / "www"

    async def web_root() -> bool:
        return www.is_dir()

    await eventually(web_root, "the web root")
    (www / "ready").write_text("ok")
    pod = await wait_pod(client, "gated", lambda p: condition(p, "Ready") == "True", "Ready")
    assert main_status(pod).ready and condition(pod, "ContainersReady") == "True"
    (www / "ready").unlink()
    await wait_pod(client, "gated", lambda p: condition(p, "Ready") == "False", "unready again")
    await client.delete(Pod, "gated")


async def test_exec_through_the_apiserver(control_plane: Any, kubelet: Kubelet) -> None:
    client: ApiClient = control_plane.client
    await client.create(make_pod("shell", "sleep 1000"))
    await wait_pod(client, "shell", running, "running")
    out: dict[int, bytes] = {1: b"", 2: b""}

    def collect(fd: int, data: bytes) -> None:
        out[fd] += data

    code = await client.exec("default", "shell", ["sh", "-c", "echo out; echo err >&2; exit 3"], on_output=collect)
    assert (code, out[1], out[2]) == (3, b"out\n", b"err\n")

    async def lines() -> AsyncIterator[bytes]:
        yield b"hello\n"
        yield b"world\n"

    out = {1: b"", 2: b""}
    assert await client.exec("default", "shell", ["cat"], stdin=lines(), on_output=collect) == 0
    assert out[1] == b"hello\nworld\n"

    with pytest.raises(ApiError, match="not valid"):
        await client.exec("default", "shell", ["true"], container="nope", on_output=collect)
    with pytest.raises(NotFound):
        await client.exec("default", "ghost", ["true"], on_output=collect)

    kctl = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kubectl.main", "--server", control_plane.server, "exec", "shell", "--",
        "sh", "-c", "echo via kctl; exit 7",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBELITE_CONFIG": "/nonexistent"},
    )
    stdout, stderr = await asyncio.wait_for(kctl.communicate(), 30)
    assert (kctl.returncode, stdout) == (7, b"via kctl\n"), stderr

    async def kctl_exec(*argv: str, stdin: bytes | None) -> tuple[int | None, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kubectl.main", "--server", control_plane.server, "exec", *argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "KUBELITE_CONFIG": "/nonexistent"},
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        if stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        # With stdin None our end stays open: kctl must still exit when the command does.
        code = await asyncio.wait_for(proc.wait(), 30)
        out, err = await proc.stdout.read(), await proc.stderr.read()
        if not proc.stdin.is_closing():
            proc.stdin.close()
        return code, out, err

    assert await kctl_exec("-i", "shell", "--", "cat", stdin=b"piped\n") == (0, b"piped\n", b"")
    assert (await kctl_exec("shell", "-i", "--", "sh", "-c", "exit 2", stdin=None))[0] == 2
    await client.delete(Pod, "shell")


async def test_image_pull_back_off_then_pull_secrets(control_plane: Any, tmp_path: Path) -> None:
    client: ApiClient = control_plane.client
    images = FakeImages()
    config = {"auths": {"reg.test:5000": {"username": "robot", "password": "pw"}}}
    await client.create(Secret.from_dict({
        "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}))
    async with running_kubelet(control_plane.server, tmp_path / "node", images):
        await client.create(make_pod("pull", "sleep 1000", container={"image": "app:1"},
                                     imagePullSecrets=[{"name": "regcred"}]))

        def waiting(reason: str) -> Callable[[Pod], bool]:
            def check(pod: Pod) -> bool:
                s = main_status(pod)
                return s is not None and s.state.waiting is not None and s.state.waiting.reason == reason
            return check

        # ErrImagePull lasts only until the next sync turns it into ImagePullBackOff (a status
        # write wakes the worker), so either proves the failed pull; the events below prove both.
        def pull_failed(pod: Pod) -> bool:
            return waiting("ErrImagePull")(pod) or waiting("ImagePullBackOff")(pod)

        pod = await wait_pod(client, "pull", pull_failed, "ErrImagePull or ImagePullBackOff")
        assert "unreachable" in (main_status(pod).state.waiting.message or "")
        await wait_pod(client, "pull", waiting("ImagePullBackOff"), "ImagePullBackOff")
        images.up = True
        await wait_pod(client, "pull", running, "running once the registry is up")

        async def all_events() -> bool:  # Events are recorded asynchronously
            reasons = {r for r, _ in await events_of(client, "pull")}
            return {"Pulling", "Failed", "BackOff", "Pulled", "Started"} <= reasons

        await eventually(all_events, "Pulling, Failed, BackOff, Pulled and Started events")
        assert images.auths and all(a is not None and a.username == "robot" for a in images.auths)
        await client.delete(Pod, "pull")

        async def gone() -> bool:
            try:
                await client.get(Pod, "pull")
            except NotFound:
                return True
            return False

        await eventually(gone, "the pod deleted")


async def test_image_pull_and_volumes_proceed_while_the_sandbox_is_made(control_plane: Any, tmp_path: Path) -> None:
    """A slow pod network does not hold the image pull or the volumes back (they do not need the
    sandbox); the container starts once the sandbox is there, pulled once."""
    client: ApiClient = control_plane.client
    images, runtime = FakeImages(), GatedSandboxes()
    images.up = True
    async with running_kubelet(control_plane.server, tmp_path / "node", images, runtime) as k:
        await client.create(make_pod("gated", "sleep 1000", volumes=[{"name": "scratch", "emptyDir": {}}],
                                     container={"volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}))

        async def pulled_and_mounted() -> bool | None:
            pod = await client.get(Pod, "gated")
            done = len(images.auths) == 1 and (pod_volumes_dir(k.pods.ctx.data_dir, pod) / "scratch").is_dir()
            return True if done and pod.status.phase != "Running" else None

        await eventually(pulled_and_mounted, "the image pulled and volumes made before the sandbox exists", 20)
        runtime.gate.set()
        await wait_pod(client, "gated", running, "running once the sandbox is made")
        assert len(images.auths) == 1, "the pull made alongside the sandbox is the one the start uses"
        await client.delete(Pod, "gated")


async def test_a_failed_sandbox_is_what_the_containers_wait_on(control_plane: Any, tmp_path: Path) -> None:
    """Volumes are set up alongside the sandbox; when both fail, the containers show the sandbox's error."""
    client: ApiClient = control_plane.client
    runtime = GatedSandboxes()
    runtime.failure = "pod network setup failed: no bridge"
    runtime.gate.set()
    async with running_kubelet(control_plane.server, tmp_path / "node", runtime=runtime):
        await client.create(make_pod("no-net", "sleep 1000", volumes=[
            {"name": "cfg", "configMap": {"name": "absent"}}],
            container={"volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}))

        def sandbox_error(pod: Pod) -> bool:
            s = main_status(pod)
            w = s.state.waiting if s is not None else None
            return w is not None and w.reason == "ContainerCreating" and "no bridge" in (w.message or "")

        await wait_pod(client, "no-net", sandbox_error, "waiting on the sandbox error")
        assert ("FailedCreatePodSandBox", "Failed to create pod sandbox: pod network setup failed: no bridge") in \
            await events_of(client, "no-net")
        runtime.failure = ""
        await client.create(ConfigMap.from_dict({"metadata": {"name": "absent"}, "data": {"k": "v"}}))
        await wait_pod(client, "no-net", running, "running once the network and the ConfigMap are there")
        await client.delete(Pod, "no-net")
