"""Errors of the image subsystem, shaped for pod status and Events.

Why `reason` strings: the kubelet copies them into
`containerStatuses[].state.waiting.reason` (`ErrImagePull`,
`ErrImageNeverPull`, `InvalidImageName`) and the message into the Event, so a
user sees the cause with `kctl describe pod` and never a traceback.
"""

from __future__ import annotations


class ImagePullError(Exception):
    """An image could not be made available on this node."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class RegistryError(Exception):
    """A registry answered with an error, or could not be reached.

    `code` is the distribution error code when the registry sent one
    (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `UNAUTHORIZED`, ...), "UNREACHABLE"
    when no connection could be made, else "HTTP_<status>".
    """

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def not_found(self) -> bool:
        return self.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN") or self.status == 404


class ArchiveError(Exception):
    """An image archive (OCI layout, docker-save tar) is unreadable or inconsistent."""


class LayerError(Exception):
    """A layer cannot be unpacked safely (bad tar, path escaping the layer, digest mismatch)."""
