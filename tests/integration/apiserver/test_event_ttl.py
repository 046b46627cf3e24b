"""Events expire `--event-ttl` after their last write, as in Kubernetes; nothing else does."""

from __future__ import annotations

import time
from pathlib import Path

from kubelite.api import ConfigMap, Event, ObjectMeta, ObjectReference
from kubelite.api.errors import NotFound
from tests.integration.controlplane import running_control_plane
from tests.polling import eventually

TTL = 2


async def test_events_expire_after_the_ttl_and_other_objects_stay(tmp_path: Path) -> None:
    async with running_control_plane(tmp_path, event_ttl=TTL) as plane:
        c = plane.client
        about = ObjectReference(kind="Pod", name="p", namespace="default")
        created_at = time.monotonic()
        ev = await c.create(Event(metadata=ObjectMeta(name="e1", namespace="default"), reason="Test",
                                  message="first", involved_object=about))
        await c.create(ConfigMap(metadata=ObjectMeta(name="keep", namespace="default"), data={"k": "v"}))
        ev.message = "updated"  # a write re-attaches the Event to a current lease
        await c.update(ev)
        assert (await c.get(Event, "e1", "default")).message == "updated"

        async def expired() -> bool:
            try:
                await c.get(Event, "e1", "default")
            except NotFound:
                return True
            return False

        await eventually(expired, "the Event to be deleted after its TTL", timeout=30)
        assert time.monotonic() - created_at >= TTL  # not before its TTL
        assert (await c.get(ConfigMap, "keep", "default")).data == {"k": "v"}
        listed = await c.list(Event, namespace="default")
        assert [e.metadata.name for e in listed.items] == []
