"""Strategy of HorizontalPodAutoscaler: its status belongs to the hpa controller.

Why a status strategy: the controller records current metrics, replicas and
conditions through the status subresource; a user's `kctl apply` of the spec must
not wipe them, and a new autoscaler starts with none until the controller has looked.
"""

from __future__ import annotations

from apiserver.strategy.base import StatusStrategy
from kubelite.api.autoscaling import HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus


class HorizontalPodAutoscalerStrategy(StatusStrategy[HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus]):
    def status(self, obj: HorizontalPodAutoscaler) -> HorizontalPodAutoscalerStatus:
        return obj.status

    def set_status(self, obj: HorizontalPodAutoscaler, status: HorizontalPodAutoscalerStatus) -> None:
        obj.status = status

    def initial_status(self) -> HorizontalPodAutoscalerStatus:
        return HorizontalPodAutoscalerStatus()
