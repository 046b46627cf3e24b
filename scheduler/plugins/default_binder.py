"""Bind: ask the apiserver to set spec.nodeName (the Bind RPC).

Why the uid precondition: a pod deleted and re-created under the same name
between our decision and the bind must not inherit a placement computed for
its predecessor.
"""

from __future__ import annotations

from kubelite.api import Pod
from kubelite.api.errors import ApiError
from kubelite.client import ApiClient
from scheduler.framework import SUCCESS, CycleState, Status

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def bind(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        try:
            await self.client.bind(pod.metadata.namespace or "default", pod.metadata.name or "",
                                   node_name, pod_uid=pod.metadata.uid or "")
        except ApiError as exc:
            return Status.error(f"{exc.reason}: {exc.message}", plugin=NAME)
        return SUCCESS
