"""The upload policy file: YAML text → a checked ``signer.core.policy.Policy``.

The core holds the rules (what a profile may say, what a request may do); this module reads
the file people write, with the units they write in. It sits outside ``signer.core`` because
those units are the kit's own (``common.envconfig`` parses them the same way for every
environment variable), and the core imports nothing of the project but itself.

Sizes take ``5GiB``/``15MiB``/``100MB`` or bytes; durations take ``15m``/``24h``/``7d`` or
seconds. Every field but ``mime_types`` and ``size_max`` is optional and defaults to the value
shown::

    default_profile: default          # used when a request names no profile
    profiles:
      default:
        mime_types:                   # MIME type -> extension (no dot) the key gets
          image/png: png
          image/jpeg: jpg
        size_max: 5GiB                # larger uploads are refused (size_too_large)
        multipart_threshold: 15MiB    # multipart=auto switches to multipart at this size
        part_size: 8MiB               # 5MiB..5GiB; grown when 10,000 parts would not do
        put_ttl: 15m                  # upload URL lifetime
        get_ttl: 24h                  # download URL lifetime when the client asks for none
        ttl_max: 7d                   # ceiling for any requested lifetime (SigV4 max: 7d)
        key_template: "{prefix}/{yyyy}/{mm}/{uuid}{ext}"
        prefix: uploads
        required_headers:             # signed into every upload URL; the client must send them
          x-amz-server-side-encryption: AES256

A reader of the file needs three names, all importable from here: ``load_policy``, the
``PolicyError`` it raises (naming the first wrong field), and ``DEFAULT_POLICY``, the policy
to use when no file is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import yaml

from common.envconfig import parse_duration, parse_size
from signer.core.policy import DEFAULT_POLICY, Policy, PolicyError, Profile

__all__ = ["DEFAULT_POLICY", "PolicyError", "load_policy"]

_SIZE_FIELDS = ("size_max", "multipart_threshold", "part_size")
_DURATION_FIELDS = ("put_ttl", "get_ttl", "ttl_max")
_PROFILE_FIELDS = tuple(f.name for f in fields(Profile) if f.name != "name")


def _size(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PolicyError(path, f"{value!r} is not a size; use forms like 8MiB, 5GiB or bytes")
    try:
        return parse_size(value)
    except ValueError as exc:
        raise PolicyError(path, str(exc)) from None


def _duration(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PolicyError(path, f"{value!r} is not a duration; use forms like 15m, 24h or 7d")
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        raise PolicyError(path, str(exc)) from None
    if seconds != math.floor(seconds):
        raise PolicyError(path, "must be a whole number of seconds")
    return int(seconds)


def _profile_from(name: object, raw: object) -> Profile:
    path = f"profiles.{name}"
    if not isinstance(name, str):
        raise PolicyError(path, "profile names must be strings")
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping of profile fields")
    unknown = sorted(str(key) for key in raw if key not in _PROFILE_FIELDS)
    if unknown:
        # The name is quoted in the reason too: an empty or blank key must still be visible.
        raise PolicyError(
            f"{path}.{unknown[0]}",
            f"unknown field {unknown[0]!r}; profile fields are {', '.join(_PROFILE_FIELDS)}",
        )
    for required in ("mime_types", "size_max"):
        if required not in raw:
            raise PolicyError(f"{path}.{required}", "is required")
    # YAML values as read: Profile checks every one's type and range itself.
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SIZE_FIELDS:
            values[key] = _size(value, f"{path}.{key}")
        elif key in _DURATION_FIELDS:
            values[key] = _duration(value, f"{path}.{key}")
        elif key in ("key_template", "prefix") and not isinstance(value, str):
            raise PolicyError(f"{path}.{key}", f"must be a string, not {value!r}")
        else:
            values[key] = value
    try:
        return Profile(name=name, **values)
    except PolicyError as exc:
        raise exc.within(path) from None


def load_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate a YAML policy; PolicyError names the first field that is wrong."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PolicyError(source, f"not valid YAML{where}: {problem}", source) from None
    if not isinstance(doc, Mapping):
        raise PolicyError(source, "must be a YAML mapping with a 'profiles' key", source)
    unknown = sorted(str(key) for key in doc if key not in ("profiles", "default_profile"))
    if unknown:
        raise PolicyError(
            unknown[0], f"unknown field {unknown[0]!r}; use profiles and default_profile", source
        )
    raw_profiles = doc.get("profiles")
    if not isinstance(raw_profiles, Mapping) or not raw_profiles:
        raise PolicyError("profiles", "must map profile names to profile settings", source)
    default = doc.get("default_profile", "default")
    if not isinstance(default, str):
        raise PolicyError("default_profile", "must be a profile name", source)
    try:
        profiles = {name: _profile_from(name, raw) for name, raw in raw_profiles.items()}
        return Policy(profiles=profiles, default_profile=default)
    except PolicyError as exc:
        raise PolicyError(exc.field, exc.reason, source) from None
