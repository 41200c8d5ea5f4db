"""Validators several packages share: bucket names, origins, endpoints, keys, regions.

Pure functions: each returns the normalised value or raises ValueError whose text says what
is wrong and how to fix it; the caller names the variable.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def check_bucket_name(name: str) -> str:
    """S3 bucket naming rules (the strict, virtual-host-safe set MinIO and AWS share)."""
    if not 3 <= len(name) <= 63:
        raise ValueError(f"{name!r} has {len(name)} characters; bucket names have 3 to 63")
    if not re.fullmatch(r"[a-z0-9.-]+", name):
        raise ValueError(f"{name!r} may only contain lowercase letters, digits, dots and hyphens")
    if not (name[0].isalnum() and name[-1].isalnum()):
        raise ValueError(f"{name!r} must begin and end with a letter or digit")
    if ".." in name or ".-" in name or "-." in name:
        raise ValueError(f"{name!r} must not contain '..', '.-' or '-.'")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        raise ValueError(f"{name!r} looks like an IP address; bucket names must not")
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        raise ValueError(f"{name!r} uses a prefix or suffix S3 reserves (xn--, -s3alias, --ol-s3)")
    return name


def parse_origin(text: str) -> str:
    """Normalise a browser origin to what browsers send: lowercase, no default port."""
    raw = text.strip()
    how = "write origins as scheme://host[:port], e.g. https://app.example.com"
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or "://" not in raw:
        raise ValueError(f"{raw!r} is not an origin; {how}")
    if parts.path or parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ValueError(f"{raw!r} has a path; browsers send no path in Origin, so {how}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{raw!r} contains credentials; {how}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} has an invalid port; {how}") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"{raw!r} has no host; {how}")
    if "*" in host:
        raise ValueError(f"{raw!r}: wildcards are not supported; list each origin, or {how}")
    try:
        ip = ipaddress.ip_address(host)
        host = f"[{ip}]" if ip.version == 6 else str(ip)
    except ValueError:
        if not all(_LABEL.match(label) for label in host.rstrip(".").split(".")):
            raise ValueError(f"{raw!r} has an invalid host name; {how}") from None
    scheme = parts.scheme.lower()
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def check_access_key(value: str) -> str:
    """MinIO's rules (internal/auth/credentials.go): >= 3 characters, no '=' or ','."""
    if len(value) < 3:
        raise ValueError("must be at least 3 characters")
    if "=" in value or "," in value:
        raise ValueError("must not contain '=' or ','")
    return value


def check_secret_key(value: str) -> str:
    if len(value) < 8:
        raise ValueError("must be at least 8 characters")
    return value


def check_region(value: str) -> str:
    """MinIO's own rule for region names (internal/config: validRegionRegex)."""
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_-]+", value):
        raise ValueError(f"{value!r} is not a region name; use simple names such as us-east-1")
    return value


def parse_endpoint(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not a URL; use http://host:port or https://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"{text!r} has a path; MinIO is served at the root, use scheme://host:port"
        )
    try:
        parts.port  # noqa: B018 - parsing the port is the validation
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}"
