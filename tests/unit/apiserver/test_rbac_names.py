"""RBAC object names: Kubernetes' path-segment rule, capped so the storage key stays small."""

from apiserver.strategy.rbac import path_segment_error


def test_path_segment_names() -> None:
    assert path_segment_error("system:controller:hpa") is None
    assert path_segment_error("x" * 253) is None
    assert path_segment_error("x" * 254) == "must be no more than 253 characters"  # a 1 MB name gave a 500
    assert path_segment_error("..") and path_segment_error("a/b") and path_segment_error("a%b")
