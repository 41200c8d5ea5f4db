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
        token_ttl: 15m                # intent-token lifetime (60s..24h); renewed by refresh
        kinds:                        # optional: the request's kind must match its MIME type
          image: [image/png, image/jpeg]
        enable_sharding: false        # renders {shard?} in key_template
    tenants:                          # optional: the tenants each API token may name
      api-0123456789ab: [acme]        # signer.auth.fingerprint of the token, never the token
      api-ba9876543210: ["*"]         # any tenant; a token not listed may name none

The "Mediaflow — Presigned Uploads v1" spec's knobs are read under the spec's names too. At
the top level they apply to every profile that does not set its own; in a profile they are
another spelling of its field (giving both spellings is an error)::

    multipart_threshold_mb: 15        # = multipart_threshold, in MiB
    part_size_mb: 8                   # = part_size, in MiB
    token_ttl_seconds: 900            # = token_ttl
    allowed_mimes: {image: [image/jpeg], video: [video/mp4, video/quicktime]}   # = kinds
    path_template_raw: "raw/{shard?}/{key_base}.{ext}"                          # = key_template
    enable_sharding: true
    bucket: uploads                   # must equal MINIO_BUCKET (a check, not a setting)
    region: us-east-1                 # must equal S3_REGION (a check)
    signing_alg: ES256                # or SIGNER_SIGNING_ALG: the intent-token keys must be this
    active_kid: 0123456789abcdef      # or SIGNER_ACTIVE_KID: which key signs

A file of the spec's knobs alone (no ``profiles``) makes one ``default`` profile: the
built-in one with the knobs applied, its allowlist exactly ``allowed_mimes`` when given.
With ``allowed_mimes``, a profile's ``mime_types`` is optional: a listed type takes its usual
extension (``signer.core.policy.KNOWN_EXTENSIONS``).

A reader of the file needs these names, all importable from here: ``load_policy`` (or
``load_policy_file``, which also returns the deployment checks), the ``PolicyError`` they
raise (naming the first wrong field), and ``DEFAULT_POLICY``, the policy to use when no file
is given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import yaml

from common.envconfig import parse_duration, parse_size
from signer.core.policy import DEFAULT_POLICY, MiB, Policy, PolicyError, Profile

__all__ = ["DEFAULT_POLICY", "PolicyError", "PolicyFile", "load_policy", "load_policy_file"]

_SIZE_FIELDS = ("size_max", "multipart_threshold", "part_size")
_DURATION_FIELDS = ("put_ttl", "get_ttl", "ttl_max", "token_ttl")
# The spec's knob -> the profile field it sets.
SPEC_ALIASES = {
    "multipart_threshold_mb": "multipart_threshold",
    "part_size_mb": "part_size",
    "token_ttl_seconds": "token_ttl",
    "allowed_mimes": "kinds",
    "path_template_raw": "key_template",
}
# Spec knobs that apply to every profile when given at the top level.
_PROFILE_KNOBS = (*SPEC_ALIASES, "enable_sharding")
# Spec knobs about the deployment, not a profile: checked against the environment.
DEPLOYMENT_KNOBS = ("bucket", "region", "signing_alg", "active_kid")
SIGNING_ALGS = ("ES256", "RS256")
_PROFILE_FIELDS = tuple(f.name for f in fields(Profile) if f.name != "name")
_TOP_FIELDS = ("profiles", "default_profile", "tenants", *_PROFILE_KNOBS, *DEPLOYMENT_KNOBS)


@dataclass(frozen=True)
class PolicyFile:
    """A policy file read: the policy, and the deployment knobs it names (each None when the
    file does not name it), which the settings check against the environment."""

    policy: Policy
    bucket: str | None = None
    region: str | None = None
    signing_alg: str | None = None
    active_kid: str | None = None


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


def _megabytes(value: object, path: str) -> int:
    """The spec's ``*_mb`` knobs: MiB (the kit's sizes are binary), whole bytes."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PolicyError(path, f"{value!r} is not a number of MiB above 0, e.g. 15")
    size = value * MiB
    if size != math.floor(size):
        raise PolicyError(path, "must come to a whole number of bytes")
    return int(size)


def _spec_value(knob: str, value: object, path: str) -> object:
    """A spec knob's value in its profile field's terms."""
    if knob.endswith("_mb"):
        return _megabytes(value, path)
    if knob == "token_ttl_seconds":
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(path, f"{value!r} is not a whole number of seconds")
        return value
    if knob == "path_template_raw" and not isinstance(value, str):
        raise PolicyError(path, f"must be a string, not {value!r}")
    return value


def _unaliased(raw: Mapping[Any, Any], path: str) -> dict[Any, Any]:
    """``raw`` with the spec's spellings turned into the profile's field names."""
    out = {key: value for key, value in raw.items() if key not in SPEC_ALIASES}
    for knob, target in SPEC_ALIASES.items():
        if knob not in raw:
            continue
        where = f"{path}.{knob}" if path else knob
        if target in raw:
            raise PolicyError(where, f"give {target} or {knob}, not both")
        out[target] = _spec_value(knob, raw[knob], where)
    return out


def _profile_from(name: object, raw: object, defaults: Mapping[str, Any]) -> Profile:
    path = f"profiles.{name}"
    if not isinstance(name, str):
        raise PolicyError(path, "profile names must be strings")
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping of profile fields")
    known = (*_PROFILE_FIELDS, *SPEC_ALIASES)
    unknown = sorted(str(key) for key in raw if key not in known)
    if unknown:
        # The name is quoted in the reason too: an empty or blank key must still be visible.
        raise PolicyError(
            f"{path}.{unknown[0]}",
            f"unknown field {unknown[0]!r}; profile fields are {', '.join(known)}",
        )
    raw = {**defaults, **_unaliased(raw, path)}
    if "mime_types" not in raw and not raw.get("kinds"):
        raise PolicyError(f"{path}.mime_types", "is required (or allowed_mimes)")
    if "size_max" not in raw:
        raise PolicyError(f"{path}.size_max", "is required")
    raw.setdefault("mime_types", {})
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
    return load_policy_file(text, source).policy


def _deployment(doc: Mapping[Any, Any], source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for knob in DEPLOYMENT_KNOBS:
        value = doc.get(knob)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(knob, f"must be a string, not {value!r}", source)
        out[knob] = value.strip()
    alg = out.get("signing_alg")
    if alg is not None and alg not in SIGNING_ALGS:
        raise PolicyError("signing_alg", f"{alg!r} is not ES256 or RS256", source)
    return out


def _built_in_default(defaults: Mapping[str, Any]) -> Profile:
    """A file of spec knobs alone: the built-in default profile with them applied; with
    allowed_mimes, its allowlist is exactly those types."""
    base = DEFAULT_POLICY.profile(None)
    values = dict(defaults)
    if values.get("kinds"):
        values["mime_types"] = {}
    return dataclasses.replace(base, **values)


def load_policy_file(text: str, source: str = "<policy>") -> PolicyFile:
    """``load_policy``, with the deployment knobs the file names (``PolicyFile``)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PolicyError(source, f"not valid YAML{where}: {problem}", source) from None
    if not isinstance(doc, Mapping):
        raise PolicyError(source, "must be a YAML mapping with a 'profiles' key", source)
    unknown = sorted(str(key) for key in doc if key not in _TOP_FIELDS)
    if unknown:
        raise PolicyError(
            unknown[0], f"unknown field {unknown[0]!r}; use {', '.join(_TOP_FIELDS)}", source
        )
    default = doc.get("default_profile", "default")
    if not isinstance(default, str):
        raise PolicyError("default_profile", "must be a profile name", source)
    deployment = _deployment(doc, source)
    try:
        defaults = _unaliased({k: doc[k] for k in _PROFILE_KNOBS if k in doc}, "")
        raw_profiles = doc.get("profiles")
        if raw_profiles is None and defaults:
            profiles = {"default": _built_in_default(defaults)}
        elif not isinstance(raw_profiles, Mapping) or not raw_profiles:
            raise PolicyError("profiles", "must map profile names to profile settings")
        else:
            profiles = {
                name: _profile_from(name, raw, defaults) for name, raw in raw_profiles.items()
            }
        policy = Policy(profiles=profiles, default_profile=default, tenants=doc.get("tenants"))
    except PolicyError as exc:
        raise PolicyError(exc.field, exc.reason, source) from None
    return PolicyFile(policy, **deployment)
