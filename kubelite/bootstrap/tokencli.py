"""`kubelite token create|list|delete`: bootstrap tokens for joining nodes, like `kubeadm token`.

Why Secrets and no state of our own: the token *is* its Secret
(`kube-system/bootstrap-token-<id>`), so the apiserver's authenticator, the
token cleaner and the bootstrap signer all see a created or deleted token at
once. The CLI talks to the apiserver as the admin of the local cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from kubelite.api import Secret
from kubelite.api import bootstraptoken as bt
from kubelite.api.errors import ApiError, NotFound
from kubelite.api.timeutil import format_time, parse_duration, utcnow
from kubelite.bootstrap.admin import NoClusterError, admin_client
from kubelite.localcluster import default_data_dir


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="the cluster's data directory (default: ~/.kubelite)")
    p = argparse.ArgumentParser(prog="kubelite token", description="Manage bootstrap tokens for joining nodes.",
                                parents=[common])
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", parents=[common], help="create a token (printed on stdout)")
    create.add_argument("token", nargs="?", default="", help="the token to create (default: a random one)")
    create.add_argument("--ttl", default="24h", help="lifetime like 24h or 30m; 0 = never expires (default 24h)")
    create.add_argument("--description", default="", help="a human-readable note shown by `list`")
    create.add_argument("--usages", default="signing,authentication",
                        help="comma-separated: signing (cluster-info discovery), authentication (joining)")
    create.add_argument("--groups", default=bt.DEFAULT_NODE_GROUP,
                        help="extra groups the token authenticates as (each system:bootstrappers:...)")
    sub.add_parser("list", parents=[common], help="list the tokens")
    delete = sub.add_parser("delete", parents=[common], help="delete tokens by id or whole token")
    delete.add_argument("tokens", nargs="+", metavar="TOKEN-ID")
    return p


def _ttl(text: str) -> timedelta | None:
    seconds = parse_duration(text)
    return timedelta(seconds=seconds) if seconds > 0 else None


def list_table(tokens: list[bt.BootstrapToken]) -> str:
    """kubeadm's columns: TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS."""
    now = utcnow()
    lines = [f"{'TOKEN':<24}{'TTL':<10}{'EXPIRES':<22}{'USAGES':<26}{'DESCRIPTION':<30}EXTRA GROUPS"]
    for t in sorted(tokens, key=lambda t: t.id):
        if t.expiration is None:
            ttl, expires = "<forever>", "<never>"
        else:
            left = t.expiration - now
            ttl = "<invalid>" if left.total_seconds() <= 0 else (
                f"{left.days}d" if left.days else f"{int(left.total_seconds() // 3600)}h")
            expires = format_time(t.expiration)
        usages = ",".join(t.usages) or "<none>"
        lines.append(f"{t.token:<24}{ttl:<10}{expires:<22}{usages:<26}{t.description or '<none>':<30}"
                     f"{','.join(t.extra_groups)}".rstrip())
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> int:
    client = admin_client(args.data_dir)
    try:
        if args.action == "create":
            usages = tuple(u.strip() for u in args.usages.split(",") if u.strip())
            groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
            token = bt.new_token(utcnow(), _ttl(args.ttl), args.description, usages, groups, args.token)
            await client.create(bt.to_secret(token))
            print(token.token)
        elif args.action == "list":
            secrets = (await client.list(Secret, bt.NAMESPACE)).items
            print(list_table([t for s in secrets if (t := bt.from_secret(s)) is not None]))
        else:
            for given in args.tokens:
                token_id = bt.parse_token(given)[0] if "." in given else bt.check_token_id(given)
                try:
                    await client.delete(Secret, bt.secret_name(token_id), bt.NAMESPACE)
                except NotFound:
                    print(f"error: bootstrap token {token_id!r} not found", file=sys.stderr)
                    return 1
                print(f"bootstrap token {token_id!r} deleted")
    finally:
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.data_dir = getattr(args, "data_dir", None) or default_data_dir()
    try:
        return asyncio.run(_run(args))
    except (bt.TokenError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (NoClusterError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
