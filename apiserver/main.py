"""`kubelite apiserver`: the resource API daemon.

    kubelite apiserver --etcd-servers H:P[,H:P] --listen H:P --listen-health H:P [--log-level L]
                       [--encryption-provider-config FILE]
                       [--authorization-mode AlwaysAllow|Node,RBAC] [--token-auth-file F] [--[no-]anonymous-auth]
                       [--tls-cert-file F --tls-private-key-file F [--client-ca-file CA]]
                       [--etcd-cafile CA --etcd-certfile F --etcd-keyfile F]
                       [--kubelet-certificate-authority CA --kubelet-client-certificate F --kubelet-client-key F]
                       [--http-listen H:P | --secure-port P [--bind-address A]]

With --client-ca-file every client of --listen must present a certificate of
that CA; its CN and O are the caller's user and groups (`apiserver.peer`).

Serves `kubelite.v1.Resources` on --listen, `/healthz`, `/readyz` and
`/metrics` on --listen-health; `/readyz` fails until the store is reachable,
every watch cache has synced and the system namespaces exist. SIGTERM stops it
gracefully. With --encryption-provider-config (Kubernetes' EncryptionConfiguration,
see `apiserver.encryption`) the configured resources are encrypted at rest; a
bad file stops the daemon at once with the file and field in the message.

The Kubernetes HTTP API (what `kubectl` and client libraries speak) is served
beside gRPC on --http-listen, or on --bind-address:--secure-port; it uses TLS when
--tls-cert-file/--tls-private-key-file are given, and plain HTTP only on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl

from apiserver.access import AccessOptions
from apiserver.authn import TokenFileError
from apiserver.encryption import EncryptionConfigError, load_config
from apiserver.http import is_loopback, server_ssl_context
from apiserver.server import ApiServer
from apiserver.serviceaccount import config as sa_config
from apiserver.strategy import DEFAULT_EVENT_TTL_SECONDS
from kubelite.api.durations import duration
from kubelite.daemon import HealthServer, Metrics, run_daemon, setup_logging
from kubelite.daemon.gctuning import tune_for_server
from kubelite.daemon.tls import (
    TLSConfigError,
    add_serving_flags,
    channel_credentials,
    server_credentials,
    serving_from_args,
)

log = logging.getLogger("apiserver")


def split_host_port(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{flag} must be HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubelite apiserver", description="kubelite resource API server")
    parser.add_argument("--etcd-servers", default="127.0.0.1:2379",
                        help="comma-separated etcd v3 endpoints HOST:PORT (kubelite kvstore or etcd)")
    parser.add_argument("--listen", default="127.0.0.1:6443", help="HOST:PORT for the gRPC API")
    parser.add_argument("--listen-health", default="127.0.0.1:6080", help="HOST:PORT for /healthz /readyz /metrics")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--default-not-ready-toleration-seconds", type=int, default=30,
                        help="seconds a pod without its own toleration stays on a NotReady node before eviction")
    parser.add_argument("--default-unreachable-toleration-seconds", type=int, default=30,
                        help="seconds a pod without its own toleration stays on an unreachable node before eviction")
    parser.add_argument("--event-ttl", type=duration, default=DEFAULT_EVENT_TTL_SECONDS,
                        metavar="DURATION", help="how long Events are kept after their last write: seconds, "
                        "or a duration such as 1h, 30m, 1h30m (default 1h, as Kubernetes)")
    parser.add_argument("--encryption-provider-config", default="", metavar="FILE",
                        help="EncryptionConfiguration file: which resources are encrypted at rest, with which keys")
    parser.add_argument("--authorization-mode", default="AlwaysAllow",
                        help="comma-separated authorizers asked in order: AlwaysAllow, AlwaysDeny, Node, RBAC")
    parser.add_argument("--token-auth-file", default=None,
                        help='CSV of static bearer tokens: token,user,uid[,"group1,group2"]')
    parser.add_argument("--anonymous-auth", default=True, action=argparse.BooleanOptionalAction,
                        help="serve requests without credentials as system:anonymous (default: on)")
    parser.add_argument("--enable-bootstrap-token-auth", action="store_true",
                        help="authenticate bootstrap tokens (Secrets kube-system/bootstrap-token-<id>) as "
                             "system:bootstrap:<id> in system:bootstrappers, for joining nodes")
    add_serving_flags(parser, "the API")
    parser.add_argument("--listen-without-client-cert", default=None, metavar="HOST:PORT",
                        help="also serve TLS here without asking for client certificates (callers are anonymous "
                             "at the TLS level; for bearer tokens)")
    parser.add_argument("--etcd-cafile", default=None, help="talk TLS to the kvstore, trusting this CA")
    parser.add_argument("--etcd-certfile", default=None, help="client certificate towards the kvstore")
    parser.add_argument("--etcd-keyfile", default=None, help="the key of --etcd-certfile")
    parser.add_argument("--kubelet-certificate-authority", default=None,
                        help="talk TLS to kubelets, trusting this CA for their serving certificates")
    parser.add_argument("--kubelet-client-certificate", default=None, help="client certificate towards kubelets")
    parser.add_argument("--kubelet-client-key", default=None, help="the key of --kubelet-client-certificate")
    parser.add_argument("--pod-security-default", default="privileged",
                        choices=["privileged", "baseline", "restricted"],
                        help="Pod Security level enforced in namespaces without a "
                             "pod-security.kubernetes.io/enforce label (kube-system is exempt)")
    parser.add_argument("--http-listen", default="", metavar="HOST:PORT",
                        help="HOST:PORT for the Kubernetes HTTP API (plain HTTP only on loopback)")
    parser.add_argument("--secure-port", type=int, default=None,
                        help="port for the Kubernetes HTTPS API on --bind-address (needs the TLS files)")
    parser.add_argument("--bind-address", default="0.0.0.0", help="address for --secure-port")
    sa_config.add_flags(parser)
    parser.add_argument("--disable-admission-plugins", default="", metavar="A,B",
                        help="admission plugins to turn off (ServiceAccount)")
    parser.add_argument("--advertise-address", default="", metavar="IP",
                        help="IP published in the default/kubernetes Endpoints (default: the --listen host; "
                             "'none' publishes no kubernetes Service)")
    args = parser.parse_args(argv)
    try:
        tls_credentials(args)
    except TLSConfigError as exc:
        parser.error(str(exc))
    try:
        args.access = AccessOptions.parse(args.authorization_mode, args.token_auth_file, args.anonymous_auth,
                                          args.enable_bootstrap_token_auth)
    except ValueError as exc:
        parser.error(f"--authorization-mode: {exc}")
    if args.event_ttl < 1:
        parser.error("--event-ttl must be at least 1s")
    args.event_ttl = int(args.event_ttl)
    if args.default_not_ready_toleration_seconds < 0 or args.default_unreachable_toleration_seconds < 0:
        parser.error("toleration seconds must be >= 0")
    args.etcd_endpoints = [e.strip() for e in args.etcd_servers.split(",") if e.strip()]
    if not args.etcd_endpoints:
        parser.error("--etcd-servers needs at least one endpoint")
    try:
        split_host_port(args.listen, "--listen")
        args.health = split_host_port(args.listen_health, "--listen-health")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    args.http_ssl = None
    if args.secure_port is not None:
        if args.http_listen:
            parser.error("give either --http-listen or --secure-port, not both")
        if not (args.tls_cert_file and args.tls_private_key_file):
            parser.error("--secure-port needs --tls-cert-file and --tls-private-key-file")
        args.http_listen = f"{args.bind_address}:{args.secure_port}"
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        parser.error("--tls-cert-file and --tls-private-key-file go together")
    if args.http_listen:
        try:
            http_host, _ = split_host_port(args.http_listen, "--http-listen")
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
        if args.tls_cert_file:
            try:
                args.http_ssl = server_ssl_context(args.tls_cert_file, args.tls_private_key_file,
                                                   args.client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                parser.error(f"cannot load the TLS files: {exc}")
        elif not is_loopback(http_host):
            parser.error(f"plain HTTP is only allowed on loopback, not {http_host}; give --tls-cert-file "
                         "and --tls-private-key-file")
    disabled = {p.strip() for p in args.disable_admission_plugins.split(",") if p.strip()}
    unknown = disabled - {"ServiceAccount"}
    if unknown:
        parser.error(f"--disable-admission-plugins: unknown plugin(s) {', '.join(sorted(unknown))}")
    args.service_account_admission = "ServiceAccount" not in disabled
    try:
        args.service_accounts = sa_config.from_args(args)
    except sa_config.KeyFileError as exc:
        parser.error(f"service account keys: {exc}")
    if args.advertise_address == "":
        host = args.listen.rpartition(":")[0].strip("[]")
        args.advertise_address = "" if host in ("", "0.0.0.0", "::") else host
    elif args.advertise_address == "none":
        args.advertise_address = ""
    args.encryption = None
    if args.encryption_provider_config:
        try:
            args.encryption = load_config(args.encryption_provider_config)
        except EncryptionConfigError as exc:
            parser.error(f"--encryption-provider-config: {exc}")
    return args


def tls_credentials(args: argparse.Namespace) -> None:
    """Turn the TLS flags into `args.credentials`, `args.open_credentials`, `args.etcd_credentials`
    and `args.kubelet_credentials` (None each where plaintext was asked for)."""
    args.credentials = serving_from_args(args)
    args.open_credentials = None
    if args.listen_without_client_cert:
        if args.credentials is None:
            raise TLSConfigError("--listen-without-client-cert needs --tls-cert-file and --tls-private-key-file")
        args.open_credentials = server_credentials(args.tls_cert_file, args.tls_private_key_file)
    args.etcd_credentials = (channel_credentials(args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile)
                             if args.etcd_cafile else None)
    if args.etcd_credentials is None and (args.etcd_certfile or args.etcd_keyfile):
        raise TLSConfigError("--etcd-certfile/--etcd-keyfile need --etcd-cafile")
    ca = args.kubelet_certificate_authority
    args.kubelet_credentials = (channel_credentials(ca, args.kubelet_client_certificate, args.kubelet_client_key)
                                if ca else None)
    if ca is None and (args.kubelet_client_certificate or args.kubelet_client_key):
        raise TLSConfigError("--kubelet-client-certificate/--kubelet-client-key need --kubelet-certificate-authority")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("apiserver", args.log_level)

    async def run(stop: asyncio.Event) -> None:
        metrics = Metrics()
        server = ApiServer(args.etcd_endpoints, args.listen, metrics=metrics,
                           default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
                           default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
                           encryption=args.encryption,
                           access=args.access,
                           credentials=args.credentials, etcd_credentials=args.etcd_credentials,
                           kubelet_credentials=args.kubelet_credentials,
                           listen_without_client_cert=args.listen_without_client_cert,
                           credentials_without_client_cert=args.open_credentials,
                           pod_security_default=args.pod_security_default,
                           http_listen=args.http_listen, http_ssl=args.http_ssl,
                           service_accounts=args.service_accounts,
                           service_account_admission=args.service_account_admission,
                           advertise_address=args.advertise_address, event_ttl=args.event_ttl)
        health = HealthServer(args.health[0], args.health[1], metrics)
        health.add_check("apiserver", server.not_ready)
        await server.start(wait_ready=False)
        tune_for_server()
        try:
            await health.start()
            await stop.wait()
        finally:
            await health.stop()
            await server.stop()

    try:
        return run_daemon(run)
    except (OSError, TokenFileError) as exc:
        log.error("apiserver failed to start", extra={"error": str(exc)})
        return 1
