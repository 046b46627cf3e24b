"""`kubelite init --advertise-address ADDR`: the control plane for other machines to join, like `kubeadm init`.

Why built on `kubelite up`: the control plane is the same one (kvstore
members, apiserver, scheduler, controller-manager with the CSR and
bootstrap-token controllers, cluster-info published), only listening on an
address other machines reach, plus `--nodes` local nodes (default one: this
machine). What `init` adds is the join secret: a bootstrap token and the CA's
public-key hash, printed as the `kubelite join` command to run elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from datetime import timedelta
from pathlib import Path

from kubelite import addons
from kubelite.api import bootstraptoken as bt
from kubelite.api.errors import ApiError
from kubelite.api.timeutil import parse_duration, utcnow
from kubelite.bootstrap.admin import admin_client
from kubelite.bootstrap.discovery import ca_cert_hash
from kubelite.cluster import _parser, _up, resolve_runtime
from kubelite.componentstart import UpError
from kubelite.localcluster import ClusterPlan, default_config_path, default_data_dir
from kubelite.pki import cluster as pki
from kubelite.pki.certs import cert_path
from kubelite.settings import ClusterSettings


def parser() -> argparse.ArgumentParser:
    p = _parser("up")
    p.prog = "kubelite init"
    p.description = "Start a control plane that other machines join with `kubelite join`."
    # Joined machines rarely share an L2 segment: the overlay is the default here (runc; the process
    # runtime has no pod network). cluster-info tells joining nodes which one was chosen.
    p.set_defaults(nodes=1, kv_members=1, pod_network=None)
    p.add_argument("--advertise-address", required=True, metavar="IP",
                   help="the address of this machine other machines reach the control plane at")
    p.add_argument("--token-ttl", default="24h", help="lifetime of the printed join token (0: never expires)")
    return p


def join_command(plan: ClusterPlan, token: str) -> str:
    ca = cert_path(plan.pki_dir, pki.CLUSTER_CA).read_bytes()
    return (f"kubelite join {plan.https_server} --token {token} "
            f"--discovery-token-ca-cert-hash {ca_cert_hash(ca)}")


async def create_join_token(data_dir: Path, ttl: timedelta | None) -> str:
    client = admin_client(data_dir)
    try:
        token = bt.new_token(utcnow(), ttl, "created by kubelite init")
        await client.create(bt.to_secret(token))
    finally:
        await client.close()
    return token.token


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    try:
        ipaddress.ip_address(args.advertise_address)
        seconds = parse_duration(args.token_ttl)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.nodes < 0:
            raise UpError("--nodes must be at least 0")
        runtime, note = resolve_runtime(args.runtime)
        if note and not args.quiet:
            print(note, flush=True)
        pod_network = args.pod_network or ("vxlan" if runtime == "runc" else "host-gw")
        if pod_network != "host-gw" and runtime != "runc":
            raise UpError(f"--pod-network {pod_network} needs the runc runtime")
        settings = ClusterSettings(nodes=args.nodes, port_offset=args.port_offset, runtime=runtime,
                                   net_id=args.net_id, kv_members=args.kv_members, pod_network=pod_network,
                                   tuning=addons.tuning_from_args(args), advertise_address=args.advertise_address)
        plan = settings.plan(data_dir)
        code = asyncio.run(_up(plan, args.timeout, args.config_out or default_config_path(), args.quiet, settings))
        if code:
            return code
        token = asyncio.run(create_join_token(data_dir, timedelta(seconds=seconds) if seconds else None))
    except (UpError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\nYour control plane is ready. Join other machines by running on each of them:\n\n"
          f"  {join_command(plan, token)}\n")
    return 0
