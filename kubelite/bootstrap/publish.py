"""Publish cluster-info (and the RBAC that lets anonymous clients read it) as `kubeadm init` does.

Why create-or-update: `kubelite up` on an existing data directory may serve
at a new address; the kubeconfig is rewritten, the bootstrap signer then
re-signs it. The RBAC objects are only created when missing, so an
administrator who removed anonymous discovery on purpose is not overridden
by a restart -- but a fresh cluster always has it.
"""

from __future__ import annotations

import logging

from kubelite.api import ConfigMap
from kubelite.api import clusterinfo as ci
from kubelite.api.errors import AlreadyExists, Conflict, NotFound
from kubelite.client import ApiClient

log = logging.getLogger(__name__)


async def publish_cluster_info(client: ApiClient, info: ci.ClusterInfo) -> None:
    role, binding = ci.anonymous_reader()
    for obj in (role, binding):
        try:
            await client.create(obj)
        except AlreadyExists:
            pass
    desired = ci.config_map(info)
    for _ in range(5):  # the bootstrap signer may write between our read and update
        try:
            current = await client.get(ConfigMap, ci.NAME, ci.NAMESPACE)
        except NotFound:
            try:
                await client.create(desired)
            except AlreadyExists:
                continue
            log.info("published cluster-info", extra={"server": info.server})
            return
        if current.data.get(ci.KUBECONFIG_KEY) == desired.data[ci.KUBECONFIG_KEY]:
            return
        updated = current.copy_deep()
        updated.data[ci.KUBECONFIG_KEY] = desired.data[ci.KUBECONFIG_KEY]
        try:
            await client.update(updated)
        except Conflict:
            continue
        log.info("updated cluster-info", extra={"server": info.server})
        return
    raise Conflict("cluster-info kept changing while it was being published")
