"""ServiceAccounts in the apiserver: token signing and validation, TokenRequest, pod admission."""
