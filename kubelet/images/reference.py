"""Image references, normalised the way Kubernetes (via docker/distribution) does it.

Why our own parser: the kubelet must turn a pod's `image:` string into exactly
one registry, repository and tag/digest, with the same rules users know from
Kubernetes (`busybox` -> `<default registry>/library/busybox:latest`,
`host:port/repo:tag`, `repo@sha256:...`), and refuse bad strings with a message
instead of sending junk to a registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's v2 API really lives
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$")


class InvalidReference(ValueError):
    """The string is not an image reference; the message says why (shown to users)."""


@dataclass(frozen=True)
class Reference:
    """A fully qualified image reference: registry + repository + tag and/or digest."""

    registry: str  # "docker.io", "127.0.0.1:5000", "[::1]:5000"
    repository: str  # "library/busybox"
    tag: str | None = None
    digest: str | None = None  # "sha256:<hex>"

    @property
    def name(self) -> str:
        """`registry/repository`, the key images are pulled and stored under."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest wins over the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host:port serving the v2 API (docker.io is an alias)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))


def parse_reference(text: str, default_registry: str = DOCKER_HUB) -> Reference:
    """Normalise `text`; names without a registry go to `default_registry`.

    Like docker/distribution: the first path component is a registry only if it
    contains "." or ":", is "localhost", or has upper-case letters; a single
    component name with no registry given (or on docker.io) gets "library/".
    """
    if not text or text != text.strip():
        raise InvalidReference(f"invalid image reference {text!r}: empty or surrounded by spaces")
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not _DIGEST.match(digest):
            raise InvalidReference(f"invalid image reference {text!r}: bad digest {digest!r}")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid image reference {text!r}: bad tag {tag!r}")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry, path, implied = first, remainder, False
        if not _DOMAIN.match(registry):
            raise InvalidReference(f"invalid image reference {text!r}: bad registry {registry!r}")
        if registry == "index.docker.io":
            registry = DOCKER_HUB
    else:
        registry, path, implied = default_registry, rest, True
    if not path:
        raise InvalidReference(f"invalid image reference {text!r}: no repository name")
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            hint = " (repository names must be lowercase)" if component.lower() != component else ""
            raise InvalidReference(f"invalid image reference {text!r}: bad name component {component!r}{hint}")
    if "/" not in path and (implied or registry == DOCKER_HUB):
        path = f"library/{path}"
    if len(registry) + 1 + len(path) > 255:
        raise InvalidReference(f"invalid image reference {text!r}: name longer than 255 characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)
