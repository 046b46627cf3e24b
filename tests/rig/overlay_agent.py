"""Run the kubelet's overlay (VxlanSync) once inside a rig machine, from Node objects given as JSON.

Why a stand-alone entry point: it proves the overlay between machines that
share no L2 segment without a control plane -- the Node list the kubelet would
watch is passed in, and the real planner and netlink applier do the rest.

    python -m tests.rig.overlay_agent --node NAME --public-ip IP --pod-cidr CIDR --nodes FILE [--net-id N]
    python -m tests.rig.overlay_agent --cleanup [--net-id N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import cast

from kubelet.overlay.model import VxlanConfig
from kubelet.overlay.sync import VxlanSync, remove_vtep
from kubelite.api import Node
from kubelite.client import ApiClient, Informer


async def _sync(args: argparse.Namespace) -> int:
    informer: Informer[Node] = Informer(cast(ApiClient, object()), Node)
    for d in json.loads(Path(args.nodes).read_text()):
        node = Node.from_dict(d)
        informer.store._put(node.metadata.name or "", node)
    sync = VxlanSync(informer, args.node, args.public_ip, VxlanConfig(args.net_id, args.port),
                     lambda: str(args.pod_cidr))
    annotations = await sync.setup()
    changes = await sync.sync()
    print(json.dumps({"annotations": annotations, "changes": [str(c) for c in changes],
                      "pod_mtu": await sync.pod_mtu()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="overlay_agent")
    p.add_argument("--node", default="")
    p.add_argument("--public-ip", default="")
    p.add_argument("--pod-cidr", default="")
    p.add_argument("--nodes", default="")
    p.add_argument("--net-id", type=int, default=0)
    p.add_argument("--port", type=int, default=8472)
    p.add_argument("--cleanup", action="store_true")
    args = p.parse_args(argv)
    if args.cleanup:
        print(json.dumps({"removed": asyncio.run(remove_vtep(VxlanConfig(args.net_id, args.port)))}))
        return 0
    return asyncio.run(_sync(args))


if __name__ == "__main__":
    sys.exit(main())
