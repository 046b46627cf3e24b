"""Image references normalise like Kubernetes/docker, with a configurable default registry."""

from __future__ import annotations

import pytest

from kubelet.images.reference import InvalidReference, parse_reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("busybox", "docker.io", "docker.io/library/busybox:latest"),
        ("busybox", "10.88.0.1:5000", "10.88.0.1:5000/library/busybox:latest"),
        ("busybox:1.36", "reg:5000", "reg:5000/library/busybox:1.36"),
        ("team/app:v1", "reg:5000", "reg:5000/team/app:v1"),
        ("localhost/app", "docker.io", "localhost/app:latest"),
        ("localhost:5000/app:2", "docker.io", "localhost:5000/app:2"),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000", "127.0.0.1:5000/busybox:latest"),
        ("quay.io/org/img", "docker.io", "quay.io/org/img:latest"),
        ("docker.io/busybox", "reg:5000", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io", "docker.io/library/busybox:latest"),
        (f"busybox@{D}", "docker.io", f"docker.io/library/busybox@{D}"),
        (f"busybox:1@{D}", "docker.io", f"docker.io/library/busybox:1@{D}"),
        ("[::1]:5000/app:x", "docker.io", "[::1]:5000/app:x"),
        ("a/b/c.d_e__f-g", "docker.io", "docker.io/a/b/c.d_e__f-g:latest"),
    ],
)
def test_normalise(text: str, default: str, expected: str) -> None:
    assert str(parse_reference(text, default)) == expected


def test_parts_and_request_reference() -> None:
    ref = parse_reference(f"host:5000/x/y:t@{D}")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == ("host:5000", "x/y", "t", D)
    assert ref.reference == D  # the digest wins over the tag
    assert parse_reference("busybox").api_host == "registry-1.docker.io"
    assert parse_reference("h:1/busybox").api_host == "h:1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (" busybox", "spaces"),
        ("BusyBox", "lowercase"),
        ("busybox:bad tag", "bad tag"),
        ("busybox@sha256:123", "bad digest"),
        ("host:5000/", "no repository"),
        ("a//b", "bad name component"),
        ("busybox:-x", "bad tag"),
        ("x" * 300, "255"),
    ],
)
def test_invalid(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference, match=fragment):
        parse_reference(text)
