"""`kubelite certs check-expiration | renew all|NAME`: the cluster PKI's lifecycle, like `kubeadm certs`.

Why renewal keeps key and content: a renewed certificate must be a drop-in
replacement -- same identity, same names, same CA -- so nothing but its
validity changes and every peer keeps trusting it. Daemons read their
certificates when they start: restart them (`kubelite down` + `up` reuses
the PKI) to serve the renewed ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from kubelite.localcluster import default_data_dir, pki_dir
from kubelite.pki import cluster


def _dirs(default: object) -> argparse.ArgumentParser:
    """`--data-dir`/`--cert-dir`, accepted before or after the action."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data-dir", type=Path, default=default, help="the cluster's data directory (PKI in pki/)")
    p.add_argument("--cert-dir", type=Path, default=default, help="the PKI directory itself (default: DATA_DIR/pki)")
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubelite certs", description="Check and renew the cluster's certificates.",
                                parents=[_dirs(None)])
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("check-expiration", parents=[_dirs(argparse.SUPPRESS)],
                   help="list every certificate with its expiry and signing CA")
    renew = sub.add_parser("renew", parents=[_dirs(argparse.SUPPRESS)],
                           help="re-issue certificates from their CA (same key, names and identity)")
    renew.add_argument("which", metavar="all|NAME", help="`all` leaf certificates, or one by name (e.g. apiserver)")
    return p


def residual(delta: dt.timedelta) -> str:
    """kubeadm's RESIDUAL TIME column: `364d`, `23h`, `<invalid>`."""
    if delta <= dt.timedelta(0):
        return "<invalid>"
    if delta.days >= 1:
        return f"{delta.days}d"
    return f"{int(delta.total_seconds() // 3600)}h"


def expiration_table(rows: list[cluster.Expiration]) -> str:
    lines = [f"{'CERTIFICATE':<28}{'EXPIRES':<22}{'RESIDUAL TIME':<15}{'CERTIFICATE AUTHORITY':<23}PROBLEM"]
    for row in rows:
        lines.append(f"{row.name:<28}{row.expires:%b %d, %Y %H:%M} UTC  {residual(row.residual):<15}"
                     f"{row.ca or ('(CA)' if row.name in cluster.CAS else '-'):<23}{row.problem or ''}".rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    certs: Path = (args.cert_dir or pki_dir((args.data_dir or default_data_dir()).resolve())).resolve()
    if not (certs / f"{cluster.CLUSTER_CA}.crt").exists():
        print(f"error: no cluster PKI in {certs} (it is created by `kubelite up`)", file=sys.stderr)
        return 1
    if args.action == "check-expiration":
        rows = cluster.check_expiration(certs)
        print(expiration_table(rows))
        return 1 if any(r.problem for r in rows) else 0
    try:
        renewed = cluster.renew(certs, args.which)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in renewed:
        print(f"certificate {name} renewed")
    print("\nDone renewing certificates. Restart the daemons that use them (`kubelite down` and "
          "`kubelite up` keep the PKI) so they serve the new ones.")
    return 0
