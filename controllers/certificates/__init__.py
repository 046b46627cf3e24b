"""CertificateSigningRequest controllers: csrapproving (kubelet client auto-approval) and csrsigning."""
