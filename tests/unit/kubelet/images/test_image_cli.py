"""`kubelite image load` stores images where pods' `image:` fields will look for them."""

from __future__ import annotations

import pytest

from kubelite.image import build_parser, target_of


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox", ("library/busybox", "latest")),
        ("busybox:1.36", ("library/busybox", "1.36")),
        ("docker.io/library/busybox:1", ("library/busybox", "1")),
        ("team/app:v2", ("team/app", "v2")),
        ("quay.io/x/y:3", ("x/y", "3")),
        ("app@sha256:" + "c" * 64, ("library/app", "sha256:" + "c" * 64)),
    ],
)
def test_target_of(ref: str, expected: tuple[str, str]) -> None:
    assert target_of(ref) == expected


def test_parser_requires_files() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["load"])
    args = build_parser().parse_args(["load", "a.tar", "b", "--registry", "h:5000"])
    assert [str(f) for f in args.files] == ["a.tar", "b"] and args.registry == "h:5000"
