"""Authentication (token file, x509, the chain), impersonation, self-reviews and gRPC request attributes."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apiserver.access import AccessControl, AccessOptions, Impersonation
from apiserver.authn import (
    Authentication,
    Credentials,
    TokenFileAuthenticator,
    TokenFileError,
    UserInfo,
    parse_authorization,
    parse_token_file,
    user_from_certificate,
)
from apiserver.authz import Attributes, build_authorizer, forbidden_message
from apiserver.authz.bootstrap import default_policy
from apiserver.authz.node import StaticGraph
from apiserver.authz.rbac import StaticPolicy
from apiserver.grpc_access import attributes
from kubelite.api.errors import Forbidden, Invalid, Unauthorized
from kubelite.api.meta import ObjectMeta
from kubelite.api.rbac import ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject
from kubelite.pb.kubelite import api_pb2


def make_cert(common_name: str, organizations: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    if common_name:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    subject = x509.Name(names)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


# ---- token file ------------------------------------------------------------------------------


def test_token_file_like_kubernetes() -> None:
    tokens = parse_token_file('\ufeffs3cret,alice,u-1,"dev,ops"\n'
                              "\n"
                              "t2,bob,u-2\n"
                              ",nobody,u-3\n"
                              "t2,bobby,u-4,admins\n")
    assert tokens["s3cret"] == UserInfo("alice", ("dev", "ops"), "u-1")
    assert tokens["t2"] == UserInfo("bobby", ("admins",), "u-4")  # a later duplicate wins
    assert "" not in tokens


@pytest.mark.parametrize("text", ["onlytoken,user\n", "tok,,uid\n"])
def test_token_file_errors_name_the_record(text: str) -> None:
    with pytest.raises(TokenFileError, match="record 1"):
        parse_token_file(text, "tokens.csv")


def test_token_file_read_from_disk(tmp_path: Any) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("abc,carol,u-9\n")
    assert TokenFileAuthenticator.from_file(path).authenticate_token("abc") == UserInfo("carol", (), "u-9")
    with pytest.raises(TokenFileError, match="cannot read"):
        TokenFileAuthenticator.from_file(tmp_path / "missing.csv")


@pytest.mark.parametrize("header,token", [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", ""),
                                          ("Bearer", "")])
def test_authorization_header(header: str, token: str) -> None:
    assert parse_authorization(header) == token


# ---- x509 ------------------------------------------------------------------------------------


def test_x509_common_name_is_user_and_organizations_are_groups() -> None:
    user = user_from_certificate(make_cert("system:node:n1", ["system:nodes", "extra"]))
    assert user == UserInfo("system:node:n1", ("system:nodes", "extra"))
    with pytest.raises(ValueError):
        user_from_certificate(make_cert("", ["system:masters"]))
    with pytest.raises(ValueError):
        user_from_certificate(b"not a certificate")


# ---- the chain -------------------------------------------------------------------------------


CHAIN = Authentication([TokenFileAuthenticator({"tok": UserInfo("alice", ("dev",))})])


def auth(chain: Authentication | AccessControl, *args: Any) -> UserInfo:
    """Run the (async) authentication of `chain` to completion."""
    return asyncio.run(chain.authenticate(*args))


def test_chain_adds_system_authenticated() -> None:
    assert auth(CHAIN, Credentials(bearer_token="tok")).groups == ("dev", "system:authenticated")
    cert = auth(CHAIN, Credentials(client_certificate_pem=make_cert("admin", ["system:masters"])))
    assert cert == UserInfo("admin", ("system:masters", "system:authenticated"))
    assert auth(CHAIN, Credentials(client_common_name="sched")).name == "sched"


def test_chain_certificate_wins_over_token() -> None:
    creds = Credentials(bearer_token="tok", client_certificate_pem=make_cert("bob", []))
    assert auth(CHAIN, creds).name == "bob"


def test_chain_anonymous_and_bad_tokens() -> None:
    anonymous = auth(CHAIN, Credentials())
    assert anonymous == UserInfo("system:anonymous", ("system:unauthenticated",))
    with pytest.raises(Unauthorized):
        auth(CHAIN, Credentials(bearer_token="wrong"))  # never falls back to anonymous
    with pytest.raises(Unauthorized):
        auth(Authentication([], anonymous=False), Credentials())


def test_service_account_hook_is_pluggable() -> None:
    class Jwt:
        def authenticate_token(self, token: str) -> UserInfo | None:
            if token != "jwt":
                return None
            return UserInfo("system:serviceaccount:ci:builder", ("system:serviceaccounts",))

    chain = Authentication([TokenFileAuthenticator({})])
    chain.add_token_authenticator(Jwt())
    assert auth(chain, Credentials(bearer_token="jwt")).name == "system:serviceaccount:ci:builder"


def test_async_sources_come_after_the_token_file_and_foreign_tokens_fall_through() -> None:
    asked: list[str] = []

    class Jwt:
        async def authenticate_token(self, token: str) -> UserInfo | None:
            asked.append(token)
            return UserInfo("system:serviceaccount:ns:sa") if token == "a.b.c" else None

    chain = Authentication([TokenFileAuthenticator({"tok": UserInfo("alice")})])
    chain.add_token_authenticator(Jwt())
    assert auth(chain, Credentials(bearer_token="tok")).name == "alice" and asked == []
    assert auth(chain, Credentials(bearer_token="a.b.c")).name == "system:serviceaccount:ns:sa"
    with pytest.raises(Unauthorized):
        auth(chain, Credentials(bearer_token="x.y.z"))  # nobody's token: 401, never anonymous


# ---- access control: impersonation, reviews, messages ---------------------------------------


def access(*extra: Any) -> AccessControl:
    policy = StaticPolicy([*default_policy(), *extra])
    authorizer = build_authorizer(["Node", "RBAC"], policy, StaticGraph([]))
    return AccessControl(CHAIN, authorizer, AccessOptions(("Node", "RBAC")))


def test_forbidden_message_is_kubernetes_wording() -> None:
    alice = UserInfo("alice")
    assert forbidden_message(Attributes(alice, "list", "pods", namespace="default")) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    assert forbidden_message(Attributes(alice, "get", "deployments", api_group="apps", name="web",
                                        namespace="x", subresource="scale")) == (
        'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments/scale" '
        'in API group "apps" in the namespace "x"')
    assert forbidden_message(Attributes(alice, "list", "nodes")).endswith(
        'cannot list resource "nodes" in API group "" at the cluster scope')
    with pytest.raises(Forbidden):
        access().authorize(Attributes(alice, "list", "nodes"))


def test_impersonation_needs_the_impersonate_verb() -> None:
    impersonator = ClusterRole(metadata=ObjectMeta(name="imp"), rules=[PolicyRule(
        verbs=["impersonate"], api_groups=[""], resources=["users", "groups"])])
    binding = ClusterRoleBinding(metadata=ObjectMeta(name="imp"), role_ref=RoleRef(kind="ClusterRole", name="imp"),
                                 subjects=[Subject(kind="User", name="alice")])
    control = access(impersonator, binding)
    user = auth(control, Credentials(bearer_token="tok"), Impersonation("bob", ("qa",)))
    assert user == UserInfo("bob", ("qa", "system:authenticated"))
    with pytest.raises(Forbidden, match='users "bob" is forbidden: User "alice" cannot impersonate'):
        auth(access(), Credentials(bearer_token="tok"), Impersonation("bob"))


def test_self_reviews() -> None:
    control = access()
    alice = UserInfo("alice", ("system:authenticated",), "u-1")
    who = json.loads(control.review("selfsubjectreviews", b'{"apiVersion": "authentication.k8s.io/v1", '
                                    b'"kind": "SelfSubjectReview"}', alice))
    assert who["status"]["userInfo"] == {"username": "alice", "uid": "u-1", "groups": ["system:authenticated"]}
    ask = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
           "spec": {"resourceAttributes": {"verb": "create", "group": "authorization.k8s.io",
                                           "resource": "selfsubjectaccessreviews"}}}
    answer = json.loads(control.review("selfsubjectaccessreviews", json.dumps(ask).encode(), alice))
    assert answer["status"]["allowed"] is True
    ask["spec"] = {"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}
    answer = json.loads(control.review("selfsubjectaccessreviews", json.dumps(ask).encode(), alice))
    assert answer["status"]["allowed"] is False
    ask["spec"] = {}
    with pytest.raises(Invalid):
        control.review("selfsubjectaccessreviews", json.dumps(ask).encode(), alice)


# ---- gRPC request -> attributes ------------------------------------------------------------


USER = UserInfo("u")


@pytest.mark.parametrize("method,request_,expected", [
    ("Get", api_pb2.GetRequest(resource="po", namespace="", name="web"),
     dict(verb="get", resource="pods", namespace="default", name="web")),
    ("List", api_pb2.ListRequest(resource="pods"), dict(verb="list", resource="pods", namespace="")),
    ("Watch", api_pb2.WatchRequest(resource="secrets", namespace="d", field_selector="metadata.name=tls"),
     dict(verb="watch", resource="secrets", namespace="d", name="tls")),
    ("List", api_pb2.ListRequest(resource="nodes", namespace="default"), dict(verb="list", resource="nodes",
                                                                             namespace="")),
    ("UpdateStatus", api_pb2.UpdateRequest(resource="deployments", namespace="d", name="w"),
     dict(verb="update", resource="deployments", api_group="apps", subresource="status", namespace="d", name="w")),
    ("Create", api_pb2.CreateRequest(resource="leases", namespace="kube-node-lease",
                                     json=b'{"metadata": {"name": "n1"}}'),
     dict(verb="create", resource="leases", api_group="coordination.k8s.io", namespace="kube-node-lease",
          name="", body_name="n1")),
    ("Create", api_pb2.CreateRequest(resource="selfsubjectreviews", json=b"{}"),
     dict(verb="create", resource="selfsubjectreviews", api_group="authentication.k8s.io")),
    ("Delete", api_pb2.DeleteRequest(resource="clusterroles", name="x"),
     dict(verb="delete", resource="clusterroles", api_group="rbac.authorization.k8s.io", name="x")),
    ("Bind", api_pb2.BindRequest(namespace="d", name="web", node_name="n1"),
     dict(verb="create", resource="pods", subresource="binding", namespace="d", name="web")),
    ("Logs", api_pb2.LogsRequest(namespace="d", name="web"),
     dict(verb="get", resource="pods", subresource="log", namespace="d", name="web")),
    ("Exec", api_pb2.ExecRequest(start=api_pb2.ExecStart(namespace="d", name="web")),
     dict(verb="create", resource="pods", subresource="exec", namespace="d", name="web")),
    ("PortForward", api_pb2.PortForwardRequest(start=api_pb2.PortForwardStart(name="web", port=80)),
     dict(verb="create", resource="pods", subresource="portforward", namespace="default", name="web")),
])
def test_grpc_attributes(method: str, request_: Any, expected: dict[str, str]) -> None:
    got = attributes(method, request_, USER)
    assert got == Attributes(USER, **expected)


def test_grpc_attributes_of_a_token_request() -> None:
    from apiserver.grpc_access import attributes
    from kubelite.pb.kubelite import api_pb2

    body = json.dumps({"metadata": {"name": "default"},
                       "spec": {"boundObjectRef": {"kind": "Pod", "name": "web", "uid": "u"}}}).encode()
    request = api_pb2.CreateRequest(resource="serviceaccounts/token", namespace="ns", json=body)
    attrs = attributes("Create", request, UserInfo("system:node:n1", ("system:nodes",)))
    assert (attrs.verb, attrs.resource, attrs.subresource, attrs.namespace, attrs.name, attrs.bound_pod) == (
        "create", "serviceaccounts", "token", "ns", "default", "web")
