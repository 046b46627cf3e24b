"""An apiserver with `--authorization-mode Node,RBAC --token-auth-file`: who may do what, end to end.

A token user without bindings is refused with Kubernetes' Forbidden message,
is allowed once a RoleBinding grants it, and `kctl auth can-i` / `whoami`
report the same; nodes reach only what their pods need.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from apiserver.access import AccessOptions
from kubectl.main import main
from kubelite.api import ConfigMap, Node, Pod, Secret
from kubelite.api.errors import ApiError, Forbidden, Unauthorized
from kubelite.api.meta import ObjectMeta
from kubelite.api.rbac import ClusterRole, RoleBinding, RoleRef, Subject
from kubelite.client import ApiClient
from tests.integration.controlplane import ControlPlane, running_control_plane
from tests.polling import eventually

pytestmark = pytest.mark.integration

TOKENS = """\
admin-token,admin,u-admin,system:masters
alice-token,alice,u-alice,"devs,testers"
node-token,system:node:n1,u-n1,system:nodes
"""


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKENS)
    options = AccessOptions.parse("Node,RBAC", str(tokens))
    async with running_control_plane(tmp_path, access=options) as plane:  # type: ignore[arg-type]
        yield plane


def kctl(server: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--server", server, *args])
    return code, out.getvalue(), err.getvalue()


async def run_kctl(server: str, *args: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(kctl, server, *args)


async def test_rbac_forbids_then_allows_after_a_rolebinding(plane: ControlPlane) -> None:
    admin = ApiClient.connect(plane.server, token="admin-token")
    alice = ApiClient.connect(plane.server, token="alice-token")
    try:
        with pytest.raises(Forbidden) as refused:
            await alice.list(Pod, namespace="default")
        assert refused.value.message == ('pods is forbidden: User "alice" cannot list resource "pods" '
                                         'in API group "" in the namespace "default"')
        code, out, _ = await run_kctl(plane.server, "--token", "alice-token", "auth", "can-i", "list", "pods")
        assert (code, out) == (1, "no\n")
        code, out, err = await run_kctl(plane.server, "--token", "alice-token", "get", "pods")
        assert code == 1 and "Error from server (Forbidden): pods is forbidden" in err

        # the bootstrap policy exists, and system:masters may do anything
        roles = {r.metadata.name for r in (await admin.list(ClusterRole)).items}
        assert {"cluster-admin", "admin", "edit", "view", "system:kube-scheduler",
                "system:kube-controller-manager", "system:node-proxier", "system:basic-user"} <= roles
        await admin.create(RoleBinding(
            metadata=ObjectMeta(name="alice-view", namespace="default"),
            role_ref=RoleRef(kind="ClusterRole", name="view"),
            subjects=[Subject(kind="User", name="alice", api_group="rbac.authorization.k8s.io")]))

        async def allowed() -> bool:
            try:
                await alice.list(Pod, namespace="default")
            except Forbidden:
                return False
            return True

        await eventually(allowed, "alice's RoleBinding to take effect", timeout=10)
        code, out, _ = await run_kctl(plane.server, "--token", "alice-token", "auth", "can-i", "list", "pods")
        assert (code, out) == (0, "yes\n")
        code, out, _ = await run_kctl(plane.server, "--token", "alice-token", "auth", "can-i", "list", "pods",
                                      "-n", "kube-system")
        assert (code, out) == (1, "no\n")
        code, out, _ = await run_kctl(plane.server, "--token", "alice-token", "auth", "can-i", "delete",
                                      "deployments", "web")
        assert (code, out) == (1, "no\n")
        with pytest.raises(Forbidden, match='User "alice" cannot create resource "configmaps"'):
            await alice.create(ConfigMap(metadata=ObjectMeta(name="c", namespace="default")))
    finally:
        await admin.close()
        await alice.close()


async def test_whoami_anonymous_and_bad_tokens(plane: ControlPlane) -> None:
    code, out, _ = await run_kctl(plane.server, "--token", "alice-token", "auth", "whoami")
    assert code == 0
    assert out.splitlines() == ["ATTRIBUTE   VALUE", "Username    alice", "UID         u-alice",
                                "Groups      [devs testers system:authenticated]"]
    code, _, err = await run_kctl(plane.server, "--token", "alice-token", "--as", "bob", "get", "pods")
    assert code == 1 and 'users "bob" is forbidden: User "alice" cannot impersonate resource "users"' in err
    code, out, _ = await run_kctl(plane.server, "--token", "admin-token", "--as", "bob", "--as-group", "qa",
                                  "auth", "whoami")
    assert code == 0 and "Username    bob" in out and "[qa system:authenticated]" in out

    anonymous = ApiClient.connect(plane.server)
    stranger = ApiClient.connect(plane.server, token="no-such-token")
    try:
        with pytest.raises(Forbidden, match='User "system:anonymous" cannot list resource "nodes"'):
            await anonymous.list_raw("nodes")
        with pytest.raises(Unauthorized):
            await stranger.list_raw("nodes")
    finally:
        await anonymous.close()
        await stranger.close()


async def test_node_reads_only_what_its_pods_reference(plane: ControlPlane) -> None:
    admin = ApiClient.connect(plane.server, token="admin-token")
    node = ApiClient.connect(plane.server, token="node-token")
    try:
        for name in ("tls", "unrelated"):
            await admin.create(Secret(metadata=ObjectMeta(name=name, namespace="default"), string_data={"k": "v"}))
        pod = Pod.from_dict({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "v", "secret": {"secretName": "tls"}}]}})
        await admin.create(pod)

        async def readable() -> Secret | None:
            try:
                return await node.get(Secret, "tls", "default")
            except Forbidden:
                return None

        await eventually(readable, "the node to see its pod's secret", timeout=10)
        with pytest.raises(Forbidden, match="no relationship found between node 'n1' and this object"):
            await node.get(Secret, "unrelated", "default")
        with pytest.raises(Forbidden):
            await node.list(Secret, namespace="default")
        assert [p.metadata.name for p in (await node.list(Pod, field_selector="spec.nodeName=n1")).items] == ["web"]
        with pytest.raises(ApiError, match="forbidden"):
            await node.delete(Secret, "tls", "default")
        # A node's create is decided by the name in its body: its own Node object, not another's.
        await node.create(Node(metadata=ObjectMeta(name="n1")))
        with pytest.raises(Forbidden):
            await node.create(Node(metadata=ObjectMeta(name="n2")))
    finally:
        await admin.close()
        await node.close()
