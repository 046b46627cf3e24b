"""kctl: a kubectl-like command line client for kubelite.

It speaks the kubelite gRPC API through `client.ApiClient`, takes ordinary
Kubernetes manifests, and prints what kubectl would print so existing habits
(and scripts that grep kubectl output) carry over.
"""

__version__ = "0.1.0"
