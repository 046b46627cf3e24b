"""`kubelite build`: Dockerfile -> OCI image in the cluster registry, without Docker."""
