"""The cluster PKI: CAs, serving and client certificates for every daemon (see `cluster.py`),
and `kubelite certs check-expiration | renew` (`cli.py`)."""
