"""Name rules (DNS-1123 label/subdomain, IANA service names, config keys) as error strings.

Each function returns None for a valid value or the reason it is invalid, worded
like Kubernetes' messages so `kctl` output reads familiar.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IANA_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_PERCENT_RE = re.compile(r"^[0-9]+%$")


def dns1123_label_error(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _LABEL_RE.match(value):
        return ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')")
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _SUBDOMAIN_RE.match(value):
        return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character (e.g. 'example.com')")
    return None


def iana_svc_name_error(value: str) -> str | None:
    """Port names: at most 15 characters, lowercase alphanumerics and '-', at least one letter."""
    if len(value) > 15:
        return "must be no more than 15 characters"
    if not _IANA_RE.match(value):
        return "must contain only lowercase alphanumeric characters or '-', and start and end with one"
    if "--" in value:
        return "must not contain consecutive hyphens"
    if not any(ch.isalpha() for ch in value):
        return "must contain at least one letter (a-z)"
    return None


def config_key_error(value: str) -> str | None:
    """ConfigMap/Secret data keys (they become file names)."""
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _CONFIG_KEY_RE.match(value):
        return "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
    if value in (".", "..") or value.startswith(".."):
        return "must not be '.' or '..' or start with '..'"
    return None


def env_var_name_error(value: str) -> str | None:
    if not value:
        return "must be non-empty"
    if "=" in value or not value.isprintable() or not value.isascii():
        return "a valid environment variable name must consist only of printable ASCII characters other than '='"
    return None


def ip_error(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    return None


def cidr_error(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
    return None


def is_percent(value: str) -> bool:
    return bool(_PERCENT_RE.match(value))
