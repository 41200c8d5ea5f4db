"""What bootstrap converges to: one frozen Settings built from the environment (or a YAML file).

Connection settings always come from the environment; the buckets come either from the
environment (one bucket) or from ``--config FILE`` (several buckets, same fields). Every
problem is collected and reported at once, each naming its variable (or file field) and how
to fix it, before anything talks to the server.

Environment (defaults in brackets):
    MINIO_ENDPOINT [http://127.0.0.1:9000]  MinIO API URL bootstrap talks to
    MINIO_REGION [us-east-1]                region requests are signed for (MinIO reads the same
                                            variable as its own region, so one value serves both)
    MINIO_ROOT_USER, MINIO_ROOT_PASSWORD    root credentials (or *_FILE)
    MINIO_BUCKET                            the bucket to ensure (required without --config)
    CORS_ALLOWED_ORIGINS []                 comma-separated browser origins, scheme://host[:port]
    CORS_ALLOW_ANY [false]                  allow every origin (CORS_ALLOWED_ORIGINS=* needs it)
    MULTIPART_ABORT_AFTER [24h]             how long an incomplete multipart upload may live
    BUCKET_ENCRYPTION [sse-s3]              the bucket's default encryption: sse-s3 or off
    SIGNER_ACCESS_KEY, SIGNER_SECRET_KEY    the signer's identity (or *_FILE; optional)
    BOOTSTRAP_TIMEOUT [120s]                how long to wait for MinIO to become ready
    BOOTSTRAP_STRICT [true]                 entrypoint: stop MinIO when bootstrap fails
    MINIO_KMS_SECRET_KEY (or *_FILE)        entrypoint: MinIO's KMS key, ``name:base64`` of 32
                                            bytes or any secret of 32+ characters (see
                                            ``minio_kms_key``); required for sse-s3 unless
                                            MinIO has another KMS (``MINIO_KMS_*``)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from common.envconfig import Env, format_duration, parse_duration
from common.validators import (
    check_access_key,
    check_bucket_name,
    check_region,
    check_secret_key,
    parse_endpoint,
    parse_origin,
)

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_REGION = "us-east-1"
DEFAULT_MULTIPART_ABORT_AFTER = 24 * 3600.0
DEFAULT_TIMEOUT = 120.0
# Shorter than this would abort uploads that are still in progress; MinIO also scans for
# stale uploads only every few hours (api stale_uploads_cleanup_interval).
MIN_MULTIPART_ABORT_AFTER = 60.0
ANY_ORIGIN = "*"
# A bucket's default encryption: SSE-S3 (AES256, keys from the server's KMS), or "off", which
# leaves the bucket's encryption as bootstrap finds it and needs no KMS.
SSE_S3 = "sse-s3"
ENCRYPTION_OFF = "off"
ENCRYPTION_MODES = (SSE_S3, ENCRYPTION_OFF)
# MinIO's built-in KMS: one static 256-bit key, written as ``<key name>:<base64 of 32 bytes>``.
# The name is stored with every object it encrypts, so a key derived from a plain secret always
# gets this one name: the same secret then opens the same objects on every start.
KMS_KEY_VAR = "MINIO_KMS_SECRET_KEY"
KMS_KEY_NAME = "minio-stack"
KMS_KEY_BYTES = 32
MIN_KMS_SECRET_CHARS = 32
# MinIO reads every other KMS it supports (KES, MinIO KMS) from variables with this prefix.
MINIO_KMS_PREFIX = "MINIO_KMS_"
_KMS_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# MinIO's own form, which the entrypoint and a plain MinIO both take.
KMS_KEY_HINT = "e.g. minio-stack:$(openssl rand -base64 32)"

# The per-bucket variables, and the YAML field that declares each one in --config.
BUCKET_FIELDS = {
    "bucket": "MINIO_BUCKET",
    "cors_allowed_origins": "CORS_ALLOWED_ORIGINS",
    "cors_allow_any": "CORS_ALLOW_ANY",
    "multipart_abort_after": "MULTIPART_ABORT_AFTER",
    "encryption": "BUCKET_ENCRYPTION",
    "signer_access_key": "SIGNER_ACCESS_KEY",
    "signer_access_key_file": "SIGNER_ACCESS_KEY_FILE",
    "signer_secret_key": "SIGNER_SECRET_KEY",
    "signer_secret_key_file": "SIGNER_SECRET_KEY_FILE",
}


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class BucketSpec:
    """One bucket's declared state."""

    name: str
    cors_origins: tuple[str, ...]  # normalised and sorted; ("*",) allows any origin
    multipart_abort_after: float  # seconds
    signer: Credentials | None
    encryption: str = SSE_S3  # one of ENCRYPTION_MODES

    @property
    def cors_allow_any(self) -> bool:
        return self.cors_origins == (ANY_ORIGIN,)

    @property
    def abort_after_days(self) -> int:
        """S3 lifecycle counts whole days (DaysAfterInitiation), at least one."""
        return max(1, math.ceil(self.multipart_abort_after / 86400))

    @property
    def signer_policy(self) -> str:
        return f"minio-stack-signer-{self.name}"


@dataclass(frozen=True)
class Settings:
    endpoint: str
    region: str
    root: Credentials
    buckets: tuple[BucketSpec, ...]
    timeout: float
    strict: bool
    # MinIO's KMS key in its own name:base64 form, for the MinIO the entrypoint starts; None
    # when the caller starts no MinIO or MinIO gets its KMS elsewhere.
    kms_key: str | None = field(default=None, repr=False)

    @property
    def secure(self) -> bool:
        return self.endpoint.startswith("https://")

    @property
    def host(self) -> str:
        """host:port, the form minio-py takes."""
        return urlsplit(self.endpoint).netloc

    @property
    def multipart_abort_after(self) -> float:
        """Server-wide on MinIO; load() guarantees every bucket declares the same value."""
        return self.buckets[0].multipart_abort_after

    def cors_origins(self) -> tuple[str, ...]:
        """Every bucket's origins together: MinIO's CORS setting is server-wide."""
        if any(b.cors_allow_any for b in self.buckets):
            return (ANY_ORIGIN,)
        return tuple(sorted({o for b in self.buckets for o in b.cors_origins}))

    def signer_policies(self, access_key: str) -> frozenset[str]:
        """The policies a signer user should hold: one per bucket it is declared for."""
        return frozenset(
            b.signer_policy for b in self.buckets if b.signer and b.signer.access_key == access_key
        )

    def signer_buckets(self, access_key: str) -> frozenset[str]:
        return frozenset(
            b.name for b in self.buckets if b.signer and b.signer.access_key == access_key
        )


def parse_encryption(text: str) -> str:
    mode = text.strip().lower()
    if mode == "false":  # YAML reads an unquoted `encryption: off` as false
        mode = ENCRYPTION_OFF
    if mode not in ENCRYPTION_MODES:
        raise ValueError(
            f"{text!r} is not an encryption mode; use sse-s3 (encrypt every new object, the "
            "default) or off (leave the bucket's encryption as it is)"
        )
    return mode


def generate_kms_key() -> str:
    """A new MinIO KMS key in MinIO's own ``name:base64`` form (``minio-stack env-init``)."""
    return f"{KMS_KEY_NAME}:{base64.b64encode(secrets.token_bytes(KMS_KEY_BYTES)).decode()}"


def minio_kms_key(text: str) -> str:
    """MinIO's ``name:base64`` form of a MINIO_KMS_SECRET_KEY value.

    A value with a ``:`` is MinIO's own form and is checked, then kept as it is. Any other
    value is a generated secret (Render's ``generateValue`` has no ``:``): its SHA-256 is the
    32-byte key, named ``minio-stack``, so the same secret gives the same key on every start.
    That derivation must never change: objects written under one key open only with it.
    Errors never quote the value; it is the key to every object.
    """
    value = text.strip()
    if ":" in value:
        name, _, encoded = value.partition(":")
        if not _KMS_KEY_NAME.fullmatch(name):
            raise ValueError(
                "the key name before ':' must be 1-64 characters of A-Z a-z 0-9 _ . - "
                f"(MinIO's form is name:base64-of-32-bytes); {KMS_KEY_HINT}"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != KMS_KEY_BYTES:
            raise ValueError(
                "the part after ':' must be standard base64 of exactly 32 bytes "
                f"(MinIO's form is name:base64-of-32-bytes); {KMS_KEY_HINT}"
            )
        return value
    if len(value) < MIN_KMS_SECRET_CHARS:
        raise ValueError(
            f"is shorter than {MIN_KMS_SECRET_CHARS} characters; use a random secret at least "
            f"that long, or MinIO's form name:base64-of-32-bytes; {KMS_KEY_HINT}"
        )
    digest = hashlib.sha256(value.encode()).digest()
    return f"{KMS_KEY_NAME}:{base64.b64encode(digest).decode()}"


def parse_multipart_abort_after(seconds: float) -> float:
    if seconds < MIN_MULTIPART_ABORT_AFTER:
        raise ValueError(
            f"{format_duration(seconds)} is too short: uploads still in progress would be "
            f"aborted; use at least {format_duration(MIN_MULTIPART_ABORT_AFTER)} (e.g. 24h)"
        )
    return seconds


# --- loading ---------------------------------------------------------------------------------


def _credential(
    env: Env, access_var: str, secret_var: str, *, required: bool
) -> Credentials | None:
    access = env.str(access_var)
    secret = env.str(secret_var)
    if access is None and secret is None:
        if required:
            env.problem(access_var, "is required but not set")
            env.problem(secret_var, "is required but not set")
        return None
    ok = True
    for var, value, check, other in (
        (access_var, access, check_access_key, secret_var),
        (secret_var, secret, check_secret_key, access_var),
    ):
        if value is None:
            env.problem(var, f"is not set but {other} is; set both or neither")
            ok = False
            continue
        try:
            check(value)
        except ValueError as exc:
            env.problem(var, str(exc))  # the value itself may be a secret: never echo it
            ok = False
    return Credentials(access, secret) if ok and access and secret else None


def _bucket(env: Env) -> BucketSpec | None:
    """Read one bucket's fields from ``env`` (the real environment, or one YAML entry)."""
    name = env.str("MINIO_BUCKET", required=True)
    if name is not None:
        try:
            check_bucket_name(name)
        except ValueError as exc:
            env.problem("MINIO_BUCKET", str(exc))
            name = None
    allow_any = env.bool("CORS_ALLOW_ANY", False)
    origins: list[str] = []
    for item in env.list("CORS_ALLOWED_ORIGINS"):
        if item == ANY_ORIGIN:
            if not allow_any:
                env.problem(
                    "CORS_ALLOWED_ORIGINS",
                    "'*' lets every web site read your storage's answers; list your origins, "
                    "or set CORS_ALLOW_ANY=true if that is really meant",
                )
            continue
        try:
            origins.append(parse_origin(item))
        except ValueError as exc:
            env.problem("CORS_ALLOWED_ORIGINS", str(exc))
    if allow_any and origins:
        env.problem(
            "CORS_ALLOWED_ORIGINS",
            "CORS_ALLOW_ANY=true already allows every origin; set CORS_ALLOWED_ORIGINS=* "
            "or leave it empty, or set CORS_ALLOW_ANY=false to allow only the listed origins",
        )
    abort_after = env.parsed(
        "MULTIPART_ABORT_AFTER",
        lambda text: parse_multipart_abort_after(parse_duration(text)),
        DEFAULT_MULTIPART_ABORT_AFTER,
    )
    signer = _credential(env, "SIGNER_ACCESS_KEY", "SIGNER_SECRET_KEY", required=False)
    encryption = env.parsed("BUCKET_ENCRYPTION", parse_encryption, SSE_S3)
    if name is None:
        return None
    cors = (ANY_ORIGIN,) if allow_any else tuple(sorted(set(origins)))
    return BucketSpec(name, cors, abort_after, signer, encryption)


def _yaml_buckets(path: Path, problems: list[tuple[str, str]]) -> list[Mapping[str, str]]:
    """The ``buckets:`` list of a --config file, each entry mapped to the variables' names."""
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        problems.append(("--config", f"cannot read {where}: {exc.strerror}"))
        return []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problems.append(("--config", f"{where} is not valid YAML{at}"))
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("buckets"), list) or not doc["buckets"]:
        problems.append(
            (
                "--config",
                f"{where} must hold a non-empty 'buckets:' list, "
                "e.g. buckets: [{bucket: uploads}]",
            )
        )
        return []
    unknown = set(doc) - {"buckets"}
    if unknown:
        problems.append(
            (f"{where}: {sorted(unknown)[0]}", "unknown top-level field; only 'buckets' is read")
        )
    entries: list[Mapping[str, str]] = []
    for i, entry in enumerate(doc["buckets"]):
        if not isinstance(entry, dict):
            problems.append((f"{where}: buckets[{i}]", "must be a mapping of fields"))
            continue
        mapped: dict[str, str] = {}
        for key, value in entry.items():
            var = BUCKET_FIELDS.get(str(key))
            if var is None:
                problems.append(
                    (
                        f"{where}: buckets[{i}].{key}",
                        f"unknown field; known: {', '.join(BUCKET_FIELDS)}",
                    )
                )
                continue
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            mapped[var] = "" if value is None else str(value)
        entries.append(mapped)
    return entries


def _rename(problems: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    """Name a YAML entry's problems after its fields rather than the variables."""
    fields = {var: name for name, var in BUCKET_FIELDS.items()}
    return [(f"{label}.{fields.get(var, var.lower())}", why) for var, why in problems]


def load(
    environ: Mapping[str, str],
    *,
    config_file: str | Path | None = None,
    default_endpoint: str = DEFAULT_ENDPOINT,
    starts_minio: bool = False,
) -> Settings:
    """Build and validate the settings; raises ConfigError listing every problem.

    ``starts_minio``: the caller (the entrypoint) starts MinIO with ``environ``, so MinIO's KMS
    key is read and checked with everything else; a standalone bootstrap never reads it.
    """
    env = Env(environ)
    endpoint = env.parsed("MINIO_ENDPOINT", parse_endpoint, default_endpoint)
    region = env.parsed("MINIO_REGION", check_region, DEFAULT_REGION)
    root = _credential(env, "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", required=True)
    timeout = env.duration("BOOTSTRAP_TIMEOUT", DEFAULT_TIMEOUT)
    if timeout <= 0:
        env.problem("BOOTSTRAP_TIMEOUT", "must be longer than 0s, e.g. 120s")
    strict = env.bool("BOOTSTRAP_STRICT", True)

    buckets: list[BucketSpec | None] = []
    # Each entry's declared mode, even where the entry is invalid: the KMS key is checked at
    # once with the rest, not after the bucket name is fixed.
    modes: list[str | None] = []
    if config_file is None:
        buckets.append(_bucket(env))
        modes.append(environ.get("BUCKET_ENCRYPTION"))
    else:
        path = Path(config_file)
        set_here = [var for var in BUCKET_FIELDS.values() if environ.get(var)]
        for var in set_here:
            env.problem(
                var, f"is set but --config {path} declares the buckets; declare them in one place"
            )
        for i, mapped in enumerate(_yaml_buckets(path, env.problems)):
            entry_env = Env(mapped)
            buckets.append(_bucket(entry_env))
            modes.append(mapped.get("BUCKET_ENCRYPTION"))
            env.problems.extend(_rename(entry_env.problems, f"{path}: buckets[{i}]"))

    declared = [b for b in buckets if b is not None]
    _check_across(declared, root, env, from_file=config_file is not None)
    wants_sse = any(_wants_sse(m) for m in modes)
    kms_key = _kms_key(env, environ, wants_sse=wants_sse) if starts_minio else None
    env.raise_if_invalid()
    assert root is not None  # raise_if_invalid() reported it otherwise
    return Settings(endpoint, region, root, tuple(declared), timeout, strict, kms_key)


def _wants_sse(mode: str | None) -> bool:
    """Whether an entry declares SSE-S3; an invalid mode (reported by ``_bucket``) counts."""
    try:
        return parse_encryption(mode or SSE_S3) == SSE_S3
    except ValueError:
        return True


def _kms_key(env: Env, environ: Mapping[str, str], *, wants_sse: bool) -> str | None:
    """MinIO's KMS key for the MinIO about to start; a problem when SSE-S3 is declared and
    MinIO would have no KMS at all (found here, before MinIO starts, not at converge time)."""
    text = env.raw(KMS_KEY_VAR)  # read once: NAME_FILE problems are reported once
    if text is not None:
        try:
            return minio_kms_key(text)
        except ValueError as exc:
            env.problem(KMS_KEY_VAR, str(exc))
            return None
    other_kms = any(
        name.startswith(MINIO_KMS_PREFIX) and not name.startswith(KMS_KEY_VAR) and value
        for name, value in environ.items()
    )
    if wants_sse and not other_kms:
        env.problem(
            KMS_KEY_VAR,
            "is not set, but BUCKET_ENCRYPTION=sse-s3 (the default) needs a KMS key for MinIO to "
            f"encrypt objects with; set it ({KMS_KEY_HINT}) and keep a copy: without it the "
            "data cannot be read. Or set BUCKET_ENCRYPTION=off",
        )
    return None


def _check_across(
    buckets: list[BucketSpec], root: Credentials | None, env: Env, *, from_file: bool
) -> None:
    """Rules that span buckets or credentials."""
    names = [b.name for b in buckets]
    for name in sorted({n for n in names if names.count(n) > 1}):
        env.problem("--config", f"bucket {name!r} is declared more than once")
    if len({b.multipart_abort_after for b in buckets}) > 1:
        env.problem(
            "MULTIPART_ABORT_AFTER" if not from_file else "--config",
            "MinIO expires stale uploads server-wide (api stale_uploads_expiry); "
            "declare the same multipart_abort_after for every bucket",
        )
    secrets: dict[str, str] = {}
    for b in buckets:
        if b.signer is None:
            continue
        if root is not None and b.signer.access_key == root.access_key:
            env.problem(
                "SIGNER_ACCESS_KEY",
                "equals MINIO_ROOT_USER; the signer needs its own identity, "
                "pick another access key",
            )
        previous = secrets.setdefault(b.signer.access_key, b.signer.secret_key)
        if previous != b.signer.secret_key:
            env.problem(
                "SIGNER_SECRET_KEY",
                f"signer {b.signer.access_key!r} is declared with different secret keys; use one",
            )
