"""EventRecorder: writes in the background, aggregates repeats into one Event
with a count, limits the rate, and never raises into the caller."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from kubelite.api import Event, Node, ObjectMeta, Pod
from kubelite.api.errors import ServiceUnavailable
from kubelite.client import ApiClient, EventRecorder, LocalTransport
from kubelite.pb.kubelite import api_pb2
from tests.unit.client.fake_apiserver import FakeApiServer


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeApiServer, ApiClient]]:
    server = FakeApiServer()
    client = ApiClient(LocalTransport(server))
    yield server, client
    await client.close()


def web_pod() -> Pod:
    return Pod(metadata=ObjectMeta(name="web-1", namespace="prod", uid="u-1"), api_version="v1", kind="Pod")


async def test_repeats_are_aggregated_into_one_event(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    rec = EventRecorder(client, "kubelet", host="node-1")
    for _ in range(3):
        rec.event(web_pod(), "Warning", "BackOff", "Back-off restarting failed container")
    await rec.flush()
    events = server.stored("events")
    assert len(events) == 1
    ev = Event.from_dict(events[0])
    assert re.fullmatch(r"web-1\.[0-9a-f]+", ev.metadata.name or "")
    assert ev.metadata.namespace == "prod"
    assert (ev.type, ev.reason, ev.count) == ("Warning", "BackOff", 3)
    assert ev.involved_object.kind == "Pod" and ev.involved_object.name == "web-1"
    assert ev.involved_object.uid == "u-1" and ev.involved_object.namespace == "prod"
    assert ev.source is not None and (ev.source.component, ev.source.host) == ("kubelet", "node-1")
    assert ev.first_timestamp and ev.last_timestamp

    # A later repeat updates the same object.
    rec.event(web_pod(), "Warning", "BackOff", "Back-off restarting failed container")
    await rec.flush()
    events = server.stored("events")
    assert len(events) == 1 and events[0]["count"] == 4
    assert server.calls.count("Create") == 1

    # A different message is a different Event.
    rec.event(web_pod(), "Normal", "Started", "Started container main")
    await rec.close()
    assert sorted(e["reason"] for e in server.stored("events")) == ["BackOff", "Started"]


async def test_events_about_cluster_scoped_objects_go_to_default(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    rec = EventRecorder(client, "kubelet")
    rec.event(Node(metadata=ObjectMeta(name="node-1")), "Normal", "NodeReady", "Node node-1 status is now: NodeReady")
    await rec.close()
    [ev] = server.stored("events")
    assert ev["metadata"]["namespace"] == "default"
    assert ev["involvedObject"] == {"kind": "Node", "name": "node-1", "apiVersion": "v1"}


async def test_a_repeating_event_is_rate_limited_without_starving_other_events(
        env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    rec = EventRecorder(client, "kubelet", burst=2, rate_per_second=0.0)
    for _ in range(5):
        rec.event(web_pod(), "Normal", "BackOff", "Back-off pulling image")
        await rec.flush()  # each repeat finds no write pending, so each needs a token
    rec.event(web_pod(), "Normal", "Pulled", "Successfully pulled image")  # its own bucket
    other = Pod(metadata=ObjectMeta(name="other", namespace="prod"))
    rec.event(other, "Normal", "BackOff", "Back-off pulling image")  # and another object's
    await rec.close()
    stored = {(e["involvedObject"]["name"], e["reason"]): e["count"] for e in server.stored("events")}
    assert stored == {("web-1", "BackOff"): 2, ("web-1", "Pulled"): 1, ("other", "BackOff"): 1}
    assert rec.dropped == 3


async def test_an_event_changed_or_deleted_behind_the_recorder_is_still_counted(
        env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env
    rec = EventRecorder(client, "kubelet")
    rec.event(web_pod(), "Warning", "BackOff", "Back-off")
    await rec.flush()
    [ev] = server.stored("events")
    name = ev["metadata"]["name"]

    # Someone else wrote the Event (its resourceVersion moved): the repeat re-reads it and still lands.
    ev["count"] = 1
    await client.update_raw("events", ev, "prod")
    rec.event(web_pod(), "Warning", "BackOff", "Back-off")
    await rec.flush()
    [ev] = server.stored("events")
    assert (ev["metadata"]["name"], ev["count"]) == (name, 2)

    # Deleted (the Event TTL): the next repeat creates it again, with the running count.
    await client.delete_raw("events", name, "prod")
    rec.event(web_pod(), "Warning", "BackOff", "Back-off")
    await rec.close()
    [ev] = server.stored("events")
    assert (ev["metadata"]["name"], ev["count"], ev["reason"]) == (name, 3, "BackOff")
    assert ev["involvedObject"]["uid"] == "u-1"


async def test_write_failures_never_reach_the_caller(env: tuple[FakeApiServer, ApiClient]) -> None:
    server, client = env

    async def broken_create(request: api_pb2.CreateRequest) -> api_pb2.Object:
        raise ServiceUnavailable("apiserver down")

    server.Create = broken_create  # type: ignore[method-assign]
    rec = EventRecorder(client, "controller-manager")
    rec.event(web_pod(), "Normal", "Scaled", "Scaled up to 3")  # must not raise
    await rec.flush()
    assert server.stored("events") == []
    await rec.close()
    rec.event(web_pod(), "Normal", "Scaled", "after close: ignored")
    assert json.dumps(server.stored("events")) == "[]"


def test_event_without_a_running_loop_is_dropped_quietly() -> None:
    rec = EventRecorder(ApiClient(LocalTransport(FakeApiServer())), "kctl")
    rec.event(web_pod(), "Normal", "X", "y")
    assert rec.dropped == 1
