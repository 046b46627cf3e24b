"""`kctl certificate approve|deny NAME...`: decide CertificateSigningRequests, like kubectl's.

Why through the `approval` subresource: that is the only place Approved and
Denied may be written (RBAC grants it apart from the CSR itself). A request
already decided the other way is refused with a clear error: a decision is
final (the server would refuse the change too).
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl.errors import CliError
from kubectl.output import write
from kubectl.session import Session
from kubelite.api.certificates import (
    APPROVED,
    DENIED,
    CertificateSigningRequest,
    CertificateSigningRequestCondition,
)
from kubelite.api.timeutil import now

QUALIFIED = "certificatesigningrequest.certificates.k8s.io"


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("certificate", parents=parents, help="approve or deny certificate signing requests")
    verbs = p.add_subparsers(dest="certificate_command", metavar="SUBCOMMAND", required=True, parser_class=type(p))
    for verb in ("approve", "deny"):
        v = verbs.add_parser(verb, parents=parents, help=f"{verb} certificate signing requests",
                             description=f"kctl certificate {verb} NAME...")
        v.add_argument("names", nargs="+", metavar="NAME")
        v.set_defaults(func=run, decision=APPROVED if verb == "approve" else DENIED)


async def run(session: Session, args: argparse.Namespace) -> int:
    word = "approved" if args.decision == APPROVED else "denied"
    other = DENIED if args.decision == APPROVED else APPROVED
    for name in args.names:
        csr = await session.client.get(CertificateSigningRequest, name, "")
        if csr.condition(other) is not None:
            raise CliError(f"{QUALIFIED}/{name} is already {other}: a decision cannot be changed")
        if csr.condition(args.decision) is None:
            stamp = now()
            command = "approve" if args.decision == APPROVED else "deny"
            csr.status.conditions.append(CertificateSigningRequestCondition(
                type=args.decision, status="True", reason=f"Kubectl{command.title()}",
                message=f"This CSR was {word} by kctl certificate {command}.",
                last_update_time=stamp, last_transition_time=stamp))
            await session.client.update_approval(csr)
        write(f"{QUALIFIED}/{name} {word}\n")
    return 0
