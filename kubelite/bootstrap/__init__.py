"""kubeadm-style TLS bootstrap on the CLI side: `kubelite token`, cluster-info, `kubelite join` discovery."""
