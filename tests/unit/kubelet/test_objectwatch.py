"""The kubelet watches each ConfigMap/Secret its pods use on its own, and only while a pod uses it."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelet.objectwatch import ObjectWatches, pod_objects
from kubelite.api import Pod


class Pinned:
    """A client whose list never answers; records what was listed (the watch's selector)."""

    def __init__(self) -> None:
        self.listed: list[tuple[str, Any, str]] = []

    async def list(self, cls: type, namespace: Any = None, **kw: Any) -> Any:
        self.listed.append((cls.__name__, namespace, kw.get("field_selector", "")))
        await asyncio.Event().wait()


def pod(uid: str, *secrets: str, cm: str = "") -> Pod:
    volumes: list[dict[str, Any]] = [{"name": s, "secret": {"secretName": s}} for s in secrets]
    if cm:
        volumes.append({"name": "c", "configMap": {"name": cm}})
    return Pod.from_dict({"metadata": {"name": uid, "namespace": "ns", "uid": uid},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": volumes,
                                   "imagePullSecrets": [{"name": "pull"}]}})


def test_pod_objects() -> None:
    assert pod_objects(pod("a", "s1", cm="conf")) == {
        ("Secret", "ns", "s1"), ("Secret", "ns", "pull"), ("ConfigMap", "ns", "conf")}


async def test_watches_are_per_object_and_reference_counted() -> None:
    client = Pinned()
    watches = ObjectWatches(client, lambda _obj: None)  # type: ignore[arg-type]
    watches.register(pod("a", "s1", cm="conf"))
    watches.register(pod("b", "s1"))
    await asyncio.sleep(0)  # let the informers issue their first list
    assert ("Secret", "ns", "metadata.name=s1") in client.listed
    assert all(sel.startswith("metadata.name=") and ns == "ns" for _, ns, sel in client.listed)
    watches.unregister("a")
    assert watches.watched == {("Secret", "ns", "s1"), ("Secret", "ns", "pull")}
    watches.register(pod("b", "s2"))  # b stopped using s1
    assert watches.watched == {("Secret", "ns", "s2"), ("Secret", "ns", "pull")}
    await watches.stop()
    assert watches.watched == set()
