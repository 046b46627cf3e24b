"""ApiServer: the apiserver as an object — etcd client, watch caches, gRPC server.

Why an in-process object: the `kubelite apiserver` daemon, the integration
fixture and the benchmarks all need the same thing started the same way, and
tests need `port`/`endpoint`/`service` without a subprocess.

Readiness means: the store answered recently, every watch cache has synced, and
the system namespaces exist. The server keeps serving while the store is down
(requests fail with ServiceUnavailable) and catches up when it returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from typing import Any

import grpc
import grpc.aio

from apiserver.access import AccessControl, AccessOptions
from apiserver.authz.bootstrap import ensure_default_policy, reconciled
from apiserver.crd.controller import CrdController
from apiserver.encryption import StorageTransformers, rewrite_stale
from apiserver.etcd import EtcdClient
from apiserver.grpc_access import GrpcAccess
from apiserver.grpc_servicer import ResourcesAdapter, ResourcesServicer
from apiserver.http import HttpApi
from apiserver.http.access import HttpAccess
from apiserver.masterendpoints import MasterEndpointReconciler
from apiserver.service import ResourceService
from apiserver.serviceaccount.authenticator import ServiceAccountAuthenticator
from apiserver.serviceaccount.config import ServiceAccountConfig
from apiserver.strategy import DEFAULT_EVENT_TTL_SECONDS
from apiserver.watchcache import DEFAULT_BOOKMARK_SECONDS
from kubelite.api import registry
from kubelite.api.errors import ApiError
from kubelite.api.meta import Resource
from kubelite.daemon.metrics import Metrics
from kubelite.daemon.tls import bind

log = logging.getLogger(__name__)

STORAGE_PROBE_SECONDS = 1.0  # readiness looks at the store's last answer at most this often
STORAGE_ANSWER_FRESH_SECONDS = 3.0  # how old that answer may be before readiness asks the store itself

SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
    # Clients keep idle watches open for long; accept their keepalive pings.
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def normalize_endpoint(endpoint: str) -> str:
    """Accept "host:port" or "http://host:port" (etcd's own flag style)."""
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            endpoint = endpoint[len(scheme):]
    return endpoint.rstrip("/")


class ApiServer:
    """Serves `kubelite.v1.Resources` on `listen` backed by the etcd endpoints."""

    def __init__(
        self,
        etcd_endpoints: list[str],
        listen: str = "127.0.0.1:0",
        *,
        metrics: Metrics | None = None,
        consistency_timeout: float = 3.0,
        bookmark_interval: float = DEFAULT_BOOKMARK_SECONDS,
        history: int = 10_000,
        default_not_ready_toleration_seconds: int = 30,
        default_unreachable_toleration_seconds: int = 30,
        encryption: StorageTransformers | None = None,
        access: AccessOptions | None = None,
        credentials: grpc.ServerCredentials | None = None,
        etcd_credentials: grpc.ChannelCredentials | None = None,
        kubelet_credentials: grpc.ChannelCredentials | None = None,
        listen_without_client_cert: str | None = None,
        credentials_without_client_cert: grpc.ServerCredentials | None = None,
        pod_security_default: str = "privileged",
        http_listen: str = "",
        http_ssl: ssl.SSLContext | None = None,
        service_accounts: ServiceAccountConfig | None = None,
        service_account_admission: bool = False,
        advertise_address: str = "",
        event_ttl: int = DEFAULT_EVENT_TTL_SECONDS,
    ) -> None:
        """`credentials`: TLS of `listen` (requiring client certificates when built with a client CA);
        `etcd_credentials`/`kubelet_credentials`: TLS towards the store and the kubelets;
        `listen_without_client_cert`: a second listener (TLS with `credentials_without_client_cert`)
        for clients that authenticate otherwise (bearer tokens) -- grpc cannot make a client
        certificate optional on one port. `service_accounts`: token signing/validation keys (None: no
        TokenRequest); `service_account_admission`: default and check pods' ServiceAccounts and mount
        their tokens (needs the ServiceAccount controller); `advertise_address`: maintain
        `default/kubernetes` with this IP (empty: no such Service); `event_ttl`: seconds an Event is kept
        after its last write."""
        self.listen = listen
        self.credentials = credentials
        self.listen_without_client_cert = listen_without_client_cert
        self.credentials_without_client_cert = credentials_without_client_cert
        self.port_without_client_cert = 0
        self.metrics = metrics or Metrics()
        # Always a transformer, even without a config: reading a value that is encrypted
        # anyway then fails with "encrypted with aesgcm key ..." rather than a JSON error.
        self.encryption = encryption or StorageTransformers()
        self.etcd = EtcdClient([normalize_endpoint(e) for e in etcd_endpoints], transformer=self.encryption,
                                 credentials=etcd_credentials)
        self.reencrypted = asyncio.Event()  # set once stale values were rewritten (see encryption.rewrite)
        self.service = ResourceService(
            self.etcd, consistency_timeout=consistency_timeout, bookmark_interval=bookmark_interval, history=history,
            default_not_ready_toleration_seconds=default_not_ready_toleration_seconds,
            default_unreachable_toleration_seconds=default_unreachable_toleration_seconds,
            pod_security_default=pod_security_default,
            service_accounts=service_accounts, service_account_admission=service_account_admission,
            event_ttl=event_ttl,
        )
        self.crds = CrdController(self.service)  # serves the kinds of the stored CRDs
        self.advertise_address = advertise_address
        self.master_endpoints: MasterEndpointReconciler | None = None
        self.access = AccessControl.build(access or AccessOptions(), self.service.caches)
        validator = self.service.service_accounts.validator
        if validator is not None:  # bearer tokens: the token file first, then ServiceAccount JWTs
            self.access.authentication.add_token_authenticator(ServiceAccountAuthenticator(validator))
        self.handler = ResourcesAdapter(self.service, self.access, kubelet_credentials)
        # The Kubernetes HTTP API beside gRPC ("" = not served), same core.
        self.http_listen = http_listen
        self.http_ssl = http_ssl
        self.http = HttpApi(self.service, not_ready=self.not_ready, authorizer=HttpAccess(self.access),
                            access=self.access, kubelet=self.handler.kubelet_logs)
        self.port = 0
        self._host = listen.rpartition(":")[0] or "127.0.0.1"
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.bootstrapped = asyncio.Event()
        self.etcd_ok = False
        self._last_etcd_ok = 0.0
        self.metrics.gauge("apiserver_watchers", lambda: float(self.service.watcher_count()),
                           "open Watch streams across all resources")
        self.metrics.gauge("apiserver_watch_caches_synced",
                           lambda: float(sum(c.ready.is_set() for c in self.service.caches.values())),
                           "watch caches that have synced with the store")

    @property
    def endpoint(self) -> str:
        return f"{self._host}:{self.port}"

    def not_ready(self) -> str | None:
        """None when ready, else why not (for /readyz)."""
        if not self.etcd_ok:
            return f"storage unreachable ({self.etcd.last_error or 'no answer yet'})"
        if not self.service.synced():
            waiting = sorted(r for r, c in self.service.caches.items() if not c.ready.is_set())
            return f"watch caches not synced: {', '.join(waiting)}"
        if not self.bootstrapped.is_set():
            return "system namespaces not created yet"
        if not self.crds.synced.is_set():
            return "custom resource definitions not loaded yet"
        return None

    async def start(self, *, wait_ready: bool = True, timeout: float = 30.0) -> None:
        """Start serving; with `wait_ready` also wait until ready (raises TimeoutError)."""
        self.service.start()
        self.service.admission.start()
        self.crds.start()
        server = grpc.aio.server(options=SERVER_OPTIONS)
        servicer = ResourcesServicer(self.handler, self.metrics, GrpcAccess(self.access))
        server.add_generic_rpc_handlers((servicer.generic_handler(),))
        self.port = bind(server, self.listen, self.credentials)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.listen}")
        if self.listen_without_client_cert:
            self.port_without_client_cert = bind(server, self.listen_without_client_cert,
                                                 self.credentials_without_client_cert)
            if self.port_without_client_cert == 0:
                raise OSError(f"cannot listen on {self.listen_without_client_cert}")
        await server.start()
        self._server = server
        if self.http_listen:
            host, _, http_port = self.http_listen.rpartition(":")
            await self.http.start(host or "127.0.0.1", int(http_port), self.http_ssl)
        self._tasks = [
            asyncio.create_task(self._bootstrap(), name="apiserver-bootstrap"),
            asyncio.create_task(self._probe(), name="apiserver-etcd-probe"),
            asyncio.create_task(self._reencrypt(), name="apiserver-reencrypt"),
        ]
        if self.advertise_address:
            # Pods speak the Kubernetes HTTPS API: publish it when served, else the gRPC port.
            port = self.http.port if self.http_listen and self.http_ssl is not None else self.port
            self.master_endpoints = MasterEndpointReconciler(self.service, self.advertise_address, port)
            self._tasks.append(asyncio.create_task(self._master_endpoints(), name="apiserver-master-endpoints"))
        log.info("apiserver listening", extra={"addr": self.endpoint, "etcd": self.etcd.endpoint,
                                               "tls": self.credentials is not None})
        if wait_ready:
            await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (reason := self.not_ready()) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"apiserver not ready after {timeout}s: {reason}")
            await asyncio.sleep(0.02)

    async def _bootstrap(self) -> None:
        """Create the system namespaces (and, with RBAC, the default roles) once the store is reachable,
        retrying until it is."""
        delay = 0.05
        while True:
            try:
                await self.service.admission.ensure_system_namespaces()
                if self.access.options.rbac:
                    await ensure_default_policy(self._create_system_object, self._reconcile_system_object)
                self.bootstrapped.set()
                return
            except ApiError as exc:
                log.info("waiting for storage to create system namespaces", extra={"error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _master_endpoints(self) -> None:
        """Keep `default/kubernetes` pointing here, once the system namespaces exist."""
        await self.bootstrapped.wait()
        assert self.master_endpoints is not None
        await self.master_endpoints.run()

    async def _reencrypt(self) -> None:
        """Rewrite values not stored under the current encryption key, retrying until the store answers."""
        if self.encryption.chains:
            log.info("encryption at rest", extra={"config": self.encryption.source,
                                                  "resources": self.encryption.summary()})
        delay = 0.05
        while self.encryption.chains:
            try:
                result = await rewrite_stale(self.etcd, self.encryption.prefixes)
            except ApiError as exc:
                log.info("waiting for storage to re-encrypt stored values", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            log.info("re-encrypted stored values", extra={"result": str(result)})
            break
        self.reencrypted.set()
    async def _create_system_object(self, resource: str, obj: Resource) -> None:
        await self.service.create(resource, obj.metadata.namespace or "", json.dumps(obj.to_dict()).encode())

    async def _reconcile_system_object(self, resource: str, default: Resource) -> None:
        """Add to a stored default role or binding what this version's default grants (see `reconciled`)."""
        info = registry.lookup(resource)
        stored = info.model.from_dict(json.loads(await self.service.get(resource, "", default.metadata.name or "")))
        updated = reconciled(stored, default)
        if updated is not None:
            await self.service.update(resource, "", default.metadata.name or "", json.dumps(updated.to_dict()).encode())
            log.info("default RBAC object reconciled", extra={"resource": resource, "object": default.metadata.name})

    async def _probe(self) -> None:
        """Keep `etcd_ok` current for readiness (any answer within the last few seconds counts).

        A request the store answered within the last 3 s is that answer: the probe is a
        linearizable read (a heartbeat round of the Raft leader to every member), and on an
        idle cluster the Lease renewals (about 0.8 a second, at uneven times) reach the store
        anyway; with a 1 s window the probe still asked in about every other second. An outage
        shows in readiness within ~3-4 s instead of ~1-2 s."""
        while True:
            if time.monotonic() - self.etcd.last_answer < STORAGE_ANSWER_FRESH_SECONDS:
                self.etcd_ok = True
                self._last_etcd_ok = self.etcd.last_answer
            else:
                try:
                    await asyncio.wait_for(self.etcd.current_revision(), 5.0)
                    self.etcd_ok = True
                    self._last_etcd_ok = time.monotonic()
                except (ApiError, TimeoutError) as exc:
                    self.etcd_ok = False
                    log.debug("storage probe failed", extra={"error": str(exc)})
            await asyncio.sleep(self._probe_delay())

    def _probe_delay(self) -> float:
        """Until the store's last answer turns stale (at least `STORAGE_PROBE_SECONDS`): nothing
        can change readiness before then, and on an idle cluster the Lease renewals keep it
        fresh, so a look every second woke the apiserver for nothing. Unready: every 0.1 s."""
        if not self.etcd_ok:
            return 0.1
        stale_in = self.etcd.last_answer + STORAGE_ANSWER_FRESH_SECONDS - time.monotonic()
        return max(STORAGE_PROBE_SECONDS, stale_in)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop: refuse new calls, end open watches (clients resume elsewhere), drain, close the store client."""
        if self.master_endpoints is not None and self.etcd_ok:
            try:
                await asyncio.wait_for(self.master_endpoints.set_endpoint(False), 2.0)
            except (ApiError, TimeoutError) as exc:
                log.info("could not remove this apiserver from the kubernetes endpoints", extra={"error": str(exc)})
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: a stop must end even if a background loop is slow to unwind
            await asyncio.wait(self._tasks, timeout=grace + 3.0)
        self._tasks = []
        try:
            await asyncio.wait_for(self.http.stop(), grace + 3.0)
        except TimeoutError:
            log.warning("the HTTP API did not stop in time; closing anyway", extra={"seconds": grace + 3.0})
        stopping: asyncio.Task[None] | None = None
        if self._server is not None:
            # grpc stops accepting new calls at once; ending the watches below lets in-flight ones finish.
            stopping = asyncio.create_task(self._server.stop(grace))
            await asyncio.sleep(0)
        await self.service.admission.stop()
        await self.crds.stop()
        await self.service.stop()
        await self.handler.close()
        if stopping is not None:
            await stopping
            self._server = None
        await self.etcd.close()
        log.info("apiserver stopped")
