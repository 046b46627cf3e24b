"""The async client library every kubelite component uses to talk to the apiserver.

Public surface (see ARCHITECTURE.md "Exact public surfaces")::

    from kubelite.client import ApiClient, ObjectList, WatchEvent, Informer, WorkQueue, QueueShutDown,
        run_workers, retry_on_conflict, serve_elected, EventRecorder, GrpcTransport, LocalTransport, Transport, ResourceHandler,
        meta_namespace_key
"""

from typing import TYPE_CHECKING

from kubelite.api.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from kubelite.client.surface import *  # noqa: F403  # the names a type checker sees; loaded on first use

__getattr__ = lazy_getattr(__name__, "kubelite.client.surface")
