"""The public surface of `kubelite.client`, imported eagerly (the package loads it lazily).

Why a module of its own: importing `kubelite.client.api_client` runs the package's
`__init__` first; eager re-exports there loaded the informer, leader election and event
recorder, and with them every pydantic model class, into a `kctl get` that uses none.
"""


from kubelite.client.api_client import ApiClient, ObjectList, WatchEvent
from kubelite.client.events import EventRecorder
from kubelite.client.informer import Informer, Store, meta_namespace_key, split_meta_namespace_key
from kubelite.client.leaderelection import (
    HealthChecks,
    Leader,
    LeaderElectionConfig,
    LeaderElector,
    election_ready,
    elector_from_flags,
    run_elected,
    serve_elected,
)
from kubelite.client.retry import retry_on_conflict
from kubelite.client.tls import (
    ClientTLS,
    ClientTLSError,
    add_client_flags,
    credentials_from_args,
    with_credentials,
)
from kubelite.client.transport import GrpcTransport, LocalTransport, Transport
from kubelite.client.workqueue import QueueShutDown, WorkQueue, run_workers
from kubelite.wire import ResourceHandler

__all__ = [
    "ClientTLS",
    "ClientTLSError",
    "add_client_flags",
    "credentials_from_args",
    "with_credentials",
    "HealthChecks",
    "Leader",
    "LeaderElectionConfig",
    "LeaderElector",
    "election_ready",
    "elector_from_flags",
    "run_elected",
    "serve_elected",
    "ApiClient",
    "EventRecorder",
    "GrpcTransport",
    "Informer",
    "LocalTransport",
    "ObjectList",
    "QueueShutDown",
    "ResourceHandler",
    "Store",
    "Transport",
    "WatchEvent",
    "WorkQueue",
    "meta_namespace_key",
    "retry_on_conflict",
    "run_workers",
    "split_meta_namespace_key",
]
