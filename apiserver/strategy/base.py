"""The strategy base: what every kind does on create, update, status update and delete.

Why one object per kind (Kubernetes' registry "strategy"): the write path in
`service` is the same for every kind -- decode, prepare, validate, compare-and-
swap -- and the few things that differ (whose status is reset, what a new pod
tolerates, how long a pod's deletion takes, how a namespace is deleted, what a
Service allocates) are answered by the kind's strategy instead of by
`if kind == ...` branches spread over the service. A subclass is typed with
its model, so per-kind code reads `pod.spec.node_name` with no casts.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from apiserver import objects
from apiserver.writes import ObjectWriter, PlainWriter
from kubelite.api.base import KubeModel
from kubelite.api.errors import BadRequest, InternalError, Invalid, StatusCause
from kubelite.api.meta import Resource
from kubelite.api.registry import KindInfo

if TYPE_CHECKING:
    from apiserver.etcd import EtcdClient

R = TypeVar("R", bound=Resource)
S = TypeVar("S", bound=KubeModel)


class Deletion(enum.Enum):
    """What a delete request does to the stored object."""

    UNCHANGED = "unchanged"  # already deleting as requested: answer with the stored object
    WRITE = "write"  # store the object marked as deleting (grace period or finalizers pending)
    REMOVE = "remove"  # delete the key


class Strategy(Generic[R]):
    """Defaults, validation and server-owned fields for one kind; subclasses override the hooks.

    The public methods take any `Resource` (the service holds objects decoded
    through the registry) and narrow it to the kind's model once; the hooks
    (`on_create`, `carry_status`, ...) get the typed object.
    """

    removes_when_finalized = True
    """A deleting object that has no finalizers and no grace left is removed by the update that
    finalizes it. Namespaces say False: admission's cleanup removes them once they are empty."""

    def __init__(self, info: KindInfo, model: type[R]) -> None:
        if info.model is not model:
            raise TypeError(f"strategy for {info.kind} built with model {model.__name__}")
        self.info = info
        self.model = model

    def narrow(self, obj: Resource) -> R:
        if not isinstance(obj, self.model):
            raise InternalError(f"{self.info.kind} strategy was handed a {type(obj).__name__}")
        return obj

    def writer(self, etcd: EtcdClient) -> ObjectWriter:
        """How objects of this kind reach the store (a Service also claims IPs and ports)."""
        return PlainWriter(etcd)

    # ---- create ------------------------------------------------------------------------------

    def prepare_for_create(self, obj: Resource) -> None:
        """Set the metadata the server owns, then the kind's own create rules."""
        objects.set_create_metadata(obj)
        self.on_create(self.narrow(obj))

    def on_create(self, obj: R) -> None:
        """Kind hook: reset status, add defaults that depend on server settings."""

    def validate(self, obj: Resource, old: Resource | None = None) -> None:
        """Apply defaults and validate (plus immutability when `old` is given); Invalid names each field."""
        objects.check_valid(self.info, obj, old)

    # ---- update ------------------------------------------------------------------------------

    def prepare_for_update(self, old: Resource, new: Resource) -> None:
        """Carry over what a spec+metadata update may not change; bump generation when the spec changed."""
        objects.keep_system_metadata(old, new)
        self.carry_status(self.narrow(old), self.narrow(new))
        self.validate(new, old)
        if objects.spec_content(old.to_dict()) != objects.spec_content(new.to_dict()):
            new.metadata.generation = (old.metadata.generation or 1) + 1
        if old.metadata.deletion_timestamp:
            added = set(new.metadata.finalizers) - set(old.metadata.finalizers)
            if added:
                raise Invalid.for_object(self.info.kind, new.metadata.name, [StatusCause.forbidden(
                    "metadata.finalizers", f"no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}")])

    def carry_status(self, old: R, new: R) -> None:
        """Kind hook: keep the stored status over a spec update (kinds without status: nothing)."""

    def prepare_for_status_update(self, old: Resource, new: Resource) -> Resource:
        """The stored object with only its status replaced by the request's."""
        raise BadRequest(f"{self.info.qualified_resource} have no status subresource")

    def prepare_for_subresource_update(self, subresource: str, old: Resource, new: Resource) -> Resource:
        """The stored object changed only where `subresource` (status, or a kind's own such as a CSR's
        approval) may change it."""
        if subresource == "status":
            return self.prepare_for_status_update(old, new)
        raise BadRequest(f"{self.info.qualified_resource} have no {subresource} subresource")

    # ---- delete ------------------------------------------------------------------------------

    def deletion_grace(self, obj: Resource, requested: int | None) -> int:
        """Seconds of graceful termination for a delete of `obj` (0 = remove now)."""
        if requested is not None and requested < 0:
            raise BadRequest("gracePeriodSeconds must not be negative")
        return 0

    async def mark_for_deletion(self, obj: Resource, requested: int | None, policy: str) -> Deletion:
        """Decide a delete and mark `obj` accordingly (deletionTimestamp, propagation finalizer)."""
        grace = self.deletion_grace(obj, requested)
        if grace == 0 and not obj.metadata.finalizers and policy not in objects.PROPAGATION_FINALIZERS:
            return Deletion.REMOVE
        if not objects.mark_deleting(obj, grace, policy):
            return Deletion.UNCHANGED
        return Deletion.REMOVE if objects.ready_to_remove(obj) else Deletion.WRITE


class StatusStrategy(Strategy[R], Generic[R, S]):
    """A kind with a status subresource (controllers and kubelets own the status).

    Subclasses say how to read and set the status and what a new object starts
    with; status reset on create, status kept over spec updates and the
    status-only update follow from that.
    """

    reset_status_on_create = True

    def status(self, obj: R) -> S:
        raise NotImplementedError

    def set_status(self, obj: R, status: S) -> None:
        raise NotImplementedError

    def initial_status(self) -> S:
        raise NotImplementedError

    def on_create(self, obj: R) -> None:
        if self.reset_status_on_create:
            self.set_status(obj, self.initial_status())

    def carry_status(self, old: R, new: R) -> None:
        self.set_status(new, self.status(old).model_copy(deep=True))

    def prepare_for_status_update(self, old: Resource, new: Resource) -> Resource:
        result = self.narrow(old).model_copy(deep=True)
        self.set_status(result, self.status(self.narrow(new)))
        result.metadata.resource_version = None
        self.validate(result, old)
        return result


def plain(info: KindInfo) -> Strategy[Any]:
    """The strategy of a kind with no rules of its own (ConfigMap, Secret, Event, ...)."""
    return Strategy(info, info.model)
