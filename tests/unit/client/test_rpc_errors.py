"""A failed call without a Status still becomes the error a user should read."""

from __future__ import annotations

import grpc
from grpc.aio import AioRpcError, Metadata

from kubelite.client.transport import error_from_rpc


def failed(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details=details)


def test_a_message_over_the_channel_limit_is_request_entity_too_large() -> None:
    err = error_from_rpc(failed(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                "Sent message larger than max (70000000 vs. 67108864)"), "api:6443", "Create")
    assert (err.code, err.reason) == (413, "RequestEntityTooLarge")
    assert "larger than max" in err.message


def test_other_exhaustion_is_still_unavailable() -> None:
    err = error_from_rpc(failed(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many streams"), "api:6443", "List")
    assert (err.code, err.reason) == (503, "ServiceUnavailable")
