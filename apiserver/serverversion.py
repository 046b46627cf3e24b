"""The apiserver's version (`GET /version`, and Get of the gRPC pseudo-resource `version`).

Why one table for both APIs: real kubectl's version dispatcher picks its binary by the minor of
`/version`, and `kctl version` (gRPC) must show the same server version a user sees with kubectl.
Authorized like Kubernetes' non-resource URL `/version` (readable by everyone via
system:public-info-viewer).
"""

from __future__ import annotations

GRPC_RESOURCE = "version"
PATH = "/version"
VERSION = {
    "major": "1",
    "minor": "32",  # a minor the kubectl version dispatcher ships: it picks its binary by this
    "gitVersion": "v1.32.0-kubelite",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
