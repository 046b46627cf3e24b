"""A kopf operator (tests/integration/crd/operator) reconciles `Greeting`s against kubelite's HTTP API.

`kopf run --standalone` is a real subprocess with a kubeconfig pointing at the
in-process apiserver; the test drives it through the store and checks what the
operator wrote: the ConfigMap (owned by the Greeting) and the Greeting's status.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from apiserver.options import ListOptions
from apiserver.server import ApiServer
from kubelite.api.errors import NotFound
from tests.integration.crd.greeting import GROUP, greeting, greeting_crd
from tests.integration.crd.test_crd_http import api, established
from tests.polling import eventually

pytestmark = pytest.mark.integration
OPERATOR = Path(__file__).parent / "operator" / "greeting_operator.py"
__all__ = ["api"]  # the fixture, shared with the HTTP tests


def kubeconfig(url: str, path: Path) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "kl",
        "clusters": [{"name": "kl", "cluster": {"server": url}}],
        "contexts": [{"name": "kl", "context": {"cluster": "kl", "user": "u", "namespace": "default"}}],
        "users": [{"name": "u", "user": {}}]}))
    return path


@pytest.fixture
async def operator(api: ApiServer, tmp_path: Path) -> AsyncIterator[Path]:
    pytest.importorskip("kopf")
    await api.service.create("customresourcedefinitions", "", json.dumps(greeting_crd()).encode())
    await established(api)
    log = tmp_path / "kopf.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig(api.http.url, tmp_path / "kubeconfig")), "HOME": str(tmp_path)}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default", "--verbose",
            str(OPERATOR), env=env, stdout=out, stderr=asyncio.subprocess.STDOUT)
    try:
        yield log
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _get(api: ApiServer, resource: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(await api.service.get(resource, "default", name)))
    except NotFound:
        return None


async def test_kopf_operator_reconciles_greetings_into_config_maps(api: ApiServer, operator: Path) -> None:
    await api.service.create(f"greetings.{GROUP}", "default", json.dumps(greeting("hello", "hi there")).encode())

    async def config_map() -> dict[str, Any] | None:
        return await _get(api, "configmaps", "greeting-hello")

    try:
        cm = await eventually(config_map, "the operator's ConfigMap", timeout=60)
        assert cm["data"] == {"message": "hi there", "replicas": "1"}
        owner = cm["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Greeting", "hello")

        async def ready() -> dict[str, Any] | None:
            obj = await _get(api, f"greetings.{GROUP}", "hello")
            return obj if obj and obj.get("status", {}).get("phase") == "Ready" else None

        obj = await eventually(ready, "the Greeting's status to say Ready", timeout=30)
        assert obj["status"]["configMap"] == "greeting-hello"

        def louder(current: dict[str, Any]) -> dict[str, Any]:
            current["spec"]["style"] = "loud"
            return current

        await api.service.patch(f"greetings.{GROUP}", "default", "hello", louder)

        async def updated() -> dict[str, Any] | None:
            cm = await config_map()
            return cm if cm and cm["data"]["message"] == "HI THERE" else None

        await eventually(updated, "the ConfigMap to follow the Greeting's update", timeout=30)

        async def events() -> list[dict[str, Any]]:
            listed = await api.service.list("events", "default", ListOptions())
            found = [json.loads(raw) for raw in listed.items]
            return [e for e in found if e["involvedObject"].get("kind") == "Greeting" and e["reason"] == "Reconciled"]

        await eventually(events, "kopf's Events about the Greeting", timeout=30)
    except AssertionError:
        print(operator.read_text()[-6000:])  # what kopf said, for the failure report
        raise
