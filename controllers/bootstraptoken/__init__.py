"""Bootstrap-token controllers: the token cleaner and the cluster-info signer."""
