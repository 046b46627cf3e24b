"""`kctl run NAME --image I [--restart ...] [--port] [--env] [-l] [--command] -- ARGS`: start one pod."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl import generators, runattach
from kubectl.commands.create_object import send
from kubectl.session import Session

EXAMPLES = """\
Examples:
  # Start an nginx pod
  kctl run nginx --image=nginx

  # Start a pod exposing port 5701, with labels and environment variables
  kctl run hazelcast --image=hazelcast/hazelcast --port=5701 -l app=hazelcast --env="DNS_DOMAIN=cluster"

  # Start a pod that runs once, with its own arguments
  kctl run once --image=busybox --restart=Never -- echo hello

  # Start a pod with a different command
  kctl run shell --image=busybox --command -- sh -c 'sleep 3600'

  # Only print the pod it would create
  kctl run nginx --image=nginx --dry-run=client -o yaml

  # A throwaway pod: show its output until it ends, then delete it (exit code: the container's)
  kctl run --rm -i probe --image=busybox --restart=Never -- wget -qO- http://web
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", parents=parents, help="run a particular image in a pod",
                       description="kctl run NAME --image=IMAGE [--restart=Always|OnFailure|Never] [--port=PORT] "
                                   "[--env=K=V] [-l K=V] [--command] [--rm -i|--attach] [-- ARGS...]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--image", required=True, help="the container image")
    p.add_argument("--restart", default="Always", choices=["Always", "OnFailure", "Never"],
                   help="the pod's restartPolicy (default Always)")
    p.add_argument("--port", type=int, default=0, help="the port the container exposes")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment variable (repeatable)")
    p.add_argument("-l", "--labels", action="append", default=[], metavar="K=V,...",
                   help="labels of the pod (default run=NAME)")
    p.add_argument("--command", action="store_true", help="words after -- are the command, not its arguments")
    p.add_argument("-o", "--output", default="", help="print the pod as json|yaml|name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none")
    runattach.add_flags(p)
    p.set_defaults(func=run, takes_trailing=True)


async def run(session: Session, args: argparse.Namespace) -> int:
    attached = runattach.wants_attach(args)
    body = generators.pod(args.name, session.namespace, args.image, restart=args.restart, port=args.port,
                          env=generators.key_values(args.env, "--env"),
                          labels=generators.key_values(args.labels, "--labels") or None,
                          args=args.trailing, command=args.command)
    await send(session, body, args.output, args.dry_run, announce=not attached)
    if not attached:
        return 0
    args.streaming = True  # Ctrl-C while following the output is a normal way out
    return await runattach.attach(session, args.name, args)
