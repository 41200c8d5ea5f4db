"""Upload profiles and the rules built on them: which types and sizes a client may upload,
for how long URLs live, and how large uploads are split into parts.

Pure values and functions, as the rest of ``signer.core``: a ``Profile`` checks itself when it
is built (``PolicyError`` names the field), ``Policy`` picks a profile by name, and
``check_upload``, ``choose_strategy``, ``clamp_ttl``, ``plan_parts`` and ``part_length`` decide
one request (``kind`` included: a request's kind must match its MIME type, by the profile's
``kinds`` table or, without one, by the type's top-level name). Reading a policy from YAML
(units such as ``5GiB`` and ``15m``) is ``signer.policy_file``'s job, outside the core.

Content types: the allowlist is checked against the bare media type, lower-cased, with
parameters such as ``; charset=utf-8`` ignored. The signed Content-Type header is the client's
value verbatim (parameters included), because the browser sends exactly what it declared and a
signed header must match byte for byte.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

from signer.core import keys
from signer.core.errors import ErrorCode, SignerError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB
MIN_PART_SIZE = 5 * MiB  # S3: every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * GiB  # S3 refuses a single PUT above this
MAX_OBJECT_SIZE = 5 * TiB
MAX_TTL = 604800  # SigV4 presigned URLs live at most 7 days
STRATEGY_MODES = ("auto", "force", "off")
# The spec's short intent-token lifetime (5-15 min); a token is renewed, not made long
# (signer.uploads: refresh).
DEFAULT_TOKEN_TTL = 900
MIN_TOKEN_TTL = 60
MAX_TOKEN_TTL = 86400
Strategy = Literal["single", "multipart"]
_SAMPLE_DAY = datetime(2000, 12, 31, tzinfo=UTC)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOKEN = r"[!#$%&'*+.^_`|~0-9a-z-]+"  # noqa: S105 - RFC 9110 token, not a secret
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")
_PARAMETER = re.compile(rf'\s*{_TOKEN}=({_TOKEN}|"[^"\\\x00-\x1f\x7f]*")\s*')
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
SUBJECT_PATTERN = re.compile(r"api-[0-9a-f]{12}")  # signer.auth.fingerprint
ANY_TENANT = "*"
# Extensions of the MIME types a kinds table (the spec's allowed_mimes) may list without
# mime_types naming one. No image/svg+xml: an SVG served from storage's origin can run script;
# a profile that wants it says so in mime_types.
KNOWN_EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {
        "image/png": "png",
        "image/jpeg": "jpg",
        "image/gif": "gif",
        "image/webp": "webp",
        "image/avif": "avif",
        "image/heic": "heic",
        "image/heif": "heif",
        "image/tiff": "tiff",
        "video/mp4": "mp4",
        "video/quicktime": "mov",
        "video/webm": "webm",
        "video/x-matroska": "mkv",
        "video/mpeg": "mpeg",
        "video/3gpp": "3gp",
        "audio/mpeg": "mp3",
        "audio/mp4": "m4a",
        "audio/ogg": "ogg",
        "audio/wav": "wav",
        "application/pdf": "pdf",
        "text/plain": "txt",
        "text/csv": "csv",
    }
)
# Headers the signer sets itself on every upload; a profile must not override them.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "if-none-match",
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
    }
)


class PolicyError(ValueError):
    """A policy file or profile value that cannot work; ``field`` is a dotted path."""

    def __init__(self, field: str, reason: str, source: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.source = source

    def within(self, parent: str) -> PolicyError:
        return PolicyError(f"{parent}.{self.field}", self.reason, self.source)


def format_size(size: int) -> str:
    """``5368709120`` → ``5 GiB``; exact IEC units only, else bytes."""
    for unit, factor in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Profile:
    name: str
    mime_types: Mapping[str, str]
    size_max: int
    multipart_threshold: int = 15 * MiB
    part_size: int = 8 * MiB
    put_ttl: int = 900
    get_ttl: int = 86400
    ttl_max: int = MAX_TTL
    # {key_base} is a new ULID unless the request names one, so a backend's key_base is used.
    key_template: str = "{prefix}/{yyyy}/{mm}/{key_base}{ext}"
    prefix: str = "uploads"
    required_headers: Mapping[str, str] = field(default_factory=dict)
    token_ttl: int = DEFAULT_TOKEN_TTL
    # The spec's allowed_mimes: kind -> MIME types of that kind (each also allowed).
    kinds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    enable_sharding: bool = False  # renders {shard?}

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise PolicyError("name", "use 1-64 characters of A-Z a-z 0-9 _ . -")
        kinds, mime_types = _check_kinds(self.kinds, self.mime_types)
        object.__setattr__(self, "kinds", MappingProxyType(kinds))
        object.__setattr__(self, "mime_types", MappingProxyType(_check_mime_types(mime_types)))
        if not isinstance(self.enable_sharding, bool):
            raise PolicyError(
                "enable_sharding", f"must be true or false, not {self.enable_sharding!r}"
            )
        object.__setattr__(
            self, "required_headers", MappingProxyType(_check_headers(self.required_headers))
        )
        self._check_range("size_max", 1, MAX_OBJECT_SIZE, format_size)
        self._check_range("multipart_threshold", 1, MAX_SINGLE_PUT, format_size)
        self._check_range("part_size", MIN_PART_SIZE, MAX_PART_SIZE, format_size)
        self._check_range("ttl_max", 1, MAX_TTL, _seconds)
        self._check_range("put_ttl", 1, self.ttl_max, _seconds)
        self._check_range("get_ttl", 1, self.ttl_max, _seconds)
        self._check_range("token_ttl", MIN_TOKEN_TTL, MAX_TOKEN_TTL, _seconds)
        self._check_key_template()

    def _check_range(self, name: str, low: int, high: int, show: Callable[[int], str]) -> None:
        value = getattr(self, name)
        if not _is_int(value):
            raise PolicyError(name, f"must be an integer, not {value!r}")
        if not low <= value <= high:
            raise PolicyError(name, f"{show(value)} is outside {show(low)}..{show(high)}")

    def _check_key_template(self) -> None:
        if not isinstance(self.prefix, str) or (
            self.prefix and keys.key_problem(self.prefix) is not None
        ):
            raise PolicyError(
                "prefix", "must be a relative path like 'uploads' or 'team/files' (no '..', '//')"
            )
        if not isinstance(self.key_template, str):
            raise PolicyError("key_template", "must be a string")
        try:
            names = keys.template_fields(self.key_template)
        except ValueError as exc:
            raise PolicyError("key_template", str(exc)) from None
        if "uuid" not in names and "key_base" not in names:
            raise PolicyError(
                "key_template", "must contain {uuid} or {key_base} so keys are unique"
            )
        if "prefix" in names and not self.prefix:
            raise PolicyError("prefix", "must not be empty when key_template uses {prefix}")
        # A trial render with the longest ids and extension shows every key stays safe.
        sample = "X" * 128
        longest_ext = max(self.mime_types.values(), key=len)
        try:
            keys.make_object_key(
                self,
                ext=longest_ext,
                now=_SAMPLE_DAY,
                uuid=sample,
                key_base=sample,
                tenant="T" * 64,
            )
        except SignerError as exc:
            raise PolicyError("key_template", exc.message) from None


def _seconds(value: int) -> str:
    return f"{value}s"


def _check_mime_types(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise PolicyError("mime_types", "must map at least one MIME type to an extension")
    out: dict[str, str] = {}
    for mime, ext in value.items():
        if not isinstance(mime, str) or not _MEDIA_TYPE.fullmatch(mime.strip().lower()):
            raise PolicyError("mime_types", f"{mime!r} is not a MIME type like image/png")
        if not isinstance(ext, str) or not keys.EXT_PATTERN.fullmatch(ext.lower()):
            raise PolicyError(
                f"mime_types.{mime}", f"{ext!r} is not an extension like png (no dot, a-z 0-9)"
            )
        out[mime.strip().lower()] = ext.lower()
    return out


def _check_kinds(value: object, mime_types: object) -> tuple[dict[str, tuple[str, ...]], object]:
    """(kinds, mime_types with every kind's types in it). A kind's type that mime_types does
    not map takes its extension from KNOWN_EXTENSIONS."""
    if not isinstance(value, Mapping):
        raise PolicyError("kinds", "must map kinds (image, video, ...) to lists of MIME types")
    if not value:
        return {}, mime_types
    merged = dict(mime_types) if isinstance(mime_types, Mapping) else {}
    declared = {str(m).strip().lower() for m in merged}
    kinds: dict[str, tuple[str, ...]] = {}
    for kind, types in value.items():
        if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
            raise PolicyError("kinds", f"{kind!r} is not a kind like image or video (a-z 0-9 _ -)")
        if isinstance(types, str) or not isinstance(types, list | tuple) or not types:
            raise PolicyError(f"kinds.{kind}", "must be a list of at least one MIME type")
        listed = []
        for mime in types:
            media = mime.strip().lower() if isinstance(mime, str) else ""
            if not _MEDIA_TYPE.fullmatch(media):
                raise PolicyError(f"kinds.{kind}", f"{mime!r} is not a MIME type like image/png")
            if media not in declared:
                if media not in KNOWN_EXTENSIONS:
                    raise PolicyError(
                        f"kinds.{kind}",
                        f"{media} has no known extension; map it in mime_types (e.g. {media}: ext)",
                    )
                merged[media] = KNOWN_EXTENSIONS[media]
                declared.add(media)
            listed.append(media)
        kinds[kind] = tuple(listed)
    return kinds, merged


def _check_headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PolicyError("required_headers", "must map header names to values")
    out: dict[str, str] = {}
    for name, text in value.items():
        lower = name.strip().lower() if isinstance(name, str) else ""
        if not _HEADER_NAME.fullmatch(lower):
            raise PolicyError("required_headers", f"{name!r} is not an HTTP header name")
        if lower in _RESERVED_HEADERS:
            raise PolicyError(f"required_headers.{name}", "is set by the signer itself")
        if not isinstance(text, str) or any(ch in text for ch in "\r\n\0"):
            raise PolicyError(
                f"required_headers.{name}", "must be a one-line string (quote numbers in YAML)"
            )
        out[lower] = text
    return out


@dataclass(frozen=True)
class Policy:
    profiles: Mapping[str, Profile]
    default_profile: str = "default"
    # API token fingerprint (signer.auth.fingerprint) -> the tenants it may name ("*": any).
    # None: any token may name any tenant. A token missing from the map may name none.
    tenants: Mapping[str, frozenset[str]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.profiles, Mapping) or not self.profiles:
            raise PolicyError("profiles", "define at least one profile")
        for name, profile in self.profiles.items():
            if not isinstance(profile, Profile) or profile.name != name:
                raise PolicyError(f"profiles.{name}", "must be a Profile named the same")
        if self.default_profile not in self.profiles:
            raise PolicyError(
                "default_profile",
                f"{self.default_profile!r} is not a profile; use one of {self._names()}",
            )
        object.__setattr__(self, "profiles", MappingProxyType(dict(self.profiles)))
        if self.tenants is not None:
            object.__setattr__(self, "tenants", MappingProxyType(_check_tenants(self.tenants)))

    def check_tenant(self, subject: str, tenant: str | None) -> None:
        """BAD_REQUEST unless the API token named by ``subject`` may upload (or download) for
        ``tenant``; a request naming no tenant passes."""
        if tenant is None or self.tenants is None:
            return
        allowed = self.tenants.get(subject, frozenset())
        if ANY_TENANT in allowed or tenant in allowed:
            return
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"this API token may not use tenant {tenant!r}",
            hint=(
                f"its tenants: {', '.join(sorted(allowed))}"
                if allowed
                else "it may use no tenant; the policy file's tenants section lists who may"
            ),
        )

    def _names(self) -> str:
        return ", ".join(sorted(self.profiles))

    def profile(self, name: str | None) -> Profile:
        """The named profile, or the default one for None/empty."""
        chosen = name or self.default_profile
        if isinstance(chosen, str) and chosen in self.profiles:
            return self.profiles[chosen]
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"unknown profile {name!r}",
            hint=f"use one of: {self._names()} (or omit profile for {self.default_profile!r})",
        )

    def longest_get_ttl(self) -> int:
        return max(profile.get_ttl for profile in self.profiles.values())


def _check_tenants(value: object) -> dict[str, frozenset[str]]:
    if not isinstance(value, Mapping):
        raise PolicyError("tenants", "must map API token fingerprints (api-...) to tenant lists")
    out: dict[str, frozenset[str]] = {}
    for subject, tenants in value.items():
        if not isinstance(subject, str) or not SUBJECT_PATTERN.fullmatch(subject):
            raise PolicyError(
                "tenants",
                f"{subject!r} is not an API token fingerprint: api- and the first 12 hex "
                "digits of the token's SHA-256 (never the token itself)",
            )
        if isinstance(tenants, str) or not isinstance(tenants, list | tuple | frozenset):
            raise PolicyError(f"tenants.{subject}", "must be a list of tenants, or ['*']")
        for tenant in tenants:
            if tenant != ANY_TENANT and not (
                isinstance(tenant, str) and keys.TENANT_PATTERN.fullmatch(tenant)
            ):
                raise PolicyError(f"tenants.{subject}", f"{tenant!r} is not a tenant id")
        out[subject] = frozenset(tenants)
    return out


def normalize_content_type(content_type: str) -> str:
    """The bare media type of a Content-Type value (``Text/Plain; charset=x`` → ``text/plain``);
    BAD_REQUEST when it is not a well-formed header value."""
    hint = "send a Content-Type like image/png, optionally with parameters like ; charset=utf-8"
    if not isinstance(content_type, str) or not content_type.strip():
        raise SignerError(ErrorCode.BAD_REQUEST, "content_type is required", hint=hint)
    # Printable ASCII is exactly 0x20..0x7E.
    if len(content_type) > 255 or not (content_type.isascii() and content_type.isprintable()):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "content_type must be at most 255 printable ASCII characters",
            hint=hint,
        )
    media, *params = content_type.lower().split(";")
    media = media.strip()
    if not _MEDIA_TYPE.fullmatch(media) or not all(_PARAMETER.fullmatch(p) for p in params):
        raise SignerError(
            ErrorCode.BAD_REQUEST, f"content_type {content_type!r} is not a MIME type", hint=hint
        )
    return media


# What a download serves is the signer's decision, never the uploader's: a client can add
# headers the signature does not cover to a presigned PUT (Cache-Control, Content-Encoding,
# ...) and storage keeps and serves them. Complete stores only what the signer chose, but an
# object written another way (before the kit staged uploads, or behind its back) may still
# carry one, so a download URL pins each such header to a neutral value with S3's response-*
# overrides. Content-Type and Content-Disposition are pinned on every URL (signer.downloads).
NEUTRAL_RESPONSE_HEADERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # Not kept by shared caches: a presigned URL's answer must not outlive the URL.
        "cache-control": ("response-cache-control", "private"),
        # The bytes as stored: a browser must not decode (or be told to decode) them.
        "content-encoding": ("response-content-encoding", "identity"),
        "content-language": ("response-content-language", "und"),  # BCP 47: undetermined
        "expires": ("response-expires", "0"),  # RFC 9111: an invalid date means expired
    }
)
FALLBACK_CONTENT_TYPE = "application/octet-stream"


def neutral_overrides(served: Mapping[str, str]) -> dict[str, str]:
    """The response-* query that pins every header in ``served`` (the stored object's, lower-
    case names) that the signer never sets to a neutral value."""
    pinned = NEUTRAL_RESPONSE_HEADERS
    return dict(pinned[name] for name in sorted(served) if name in pinned)


def served_content_type(profile: Profile, stored: str) -> str:
    """The Content-Type a download serves for an object stored with ``stored``: that type if
    the profile allows its media type, else application/octet-stream (a type the policy never
    allowed, e.g. text/html, must not be served from storage's origin)."""
    try:
        media = normalize_content_type(stored)
    except SignerError:
        return FALLBACK_CONTENT_TYPE
    return stored if media in profile.mime_types else FALLBACK_CONTENT_TYPE


def check_kind(profile: Profile, kind: str, media: str) -> None:
    """MIME_NOT_ALLOWED when ``media`` is not of ``kind``: by the profile's kinds table, or,
    without one, by the type's top-level name (``video/mp4`` is a video)."""
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"kind {kind!r} is not a kind like image or video",
            hint="send kind as 1-32 lower-case letters, digits, _ or -, or omit it",
        )
    if profile.kinds:
        types = profile.kinds.get(kind)
        if types is None:
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                f"profile {profile.name!r} has no kind {kind!r}",
                hint=f"its kinds: {', '.join(sorted(profile.kinds))}; or omit kind",
            )
        consistent = media in types
    else:
        types = tuple(m for m in profile.mime_types if m.split("/", 1)[0] == kind)
        consistent = media.split("/", 1)[0] == kind
    if not consistent:
        raise SignerError(
            ErrorCode.MIME_NOT_ALLOWED,
            f"content type {media!r} is not of kind {kind!r} in profile {profile.name!r}",
            hint=f"{kind} types: {', '.join(sorted(types)) or 'none'}",
        )


def check_upload(
    profile: Profile,
    *,
    content_type: str,
    size_bytes: int,
    ext: str | None = None,
    kind: str | None = None,
) -> str:
    """The extension (no dot) the object key gets, after checking type, kind and size."""
    media = normalize_content_type(content_type)
    allowed = profile.mime_types.get(media)
    if allowed is None:
        raise SignerError(
            ErrorCode.MIME_NOT_ALLOWED,
            f"content type {media!r} is not allowed by profile {profile.name!r}",
            hint=f"allowed types: {', '.join(sorted(profile.mime_types))}",
        )
    if kind is not None:
        check_kind(profile, kind, media)
    if not _is_int(size_bytes) or size_bytes < 0:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"size_bytes must be a whole number of bytes >= 0, not {size_bytes!r}",
            hint="send the file's exact size in bytes",
        )
    if size_bytes > profile.size_max:
        raise SignerError(
            ErrorCode.SIZE_TOO_LARGE,
            f"{size_bytes} bytes is larger than profile {profile.name!r} allows",
            hint=f"the limit is {format_size(profile.size_max)} ({profile.size_max} bytes)",
        )
    if ext is not None and ext != "":
        given = ext.lower().removeprefix(".") if isinstance(ext, str) else None
        if given != allowed:
            shown = f"'{allowed}'" if allowed else "no extension"
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                f"extension {ext!r} does not match content type {media!r}",
                hint=f"use {shown} for {media}, or omit ext",
            )
    return allowed


def clamp_ttl(requested: int | None, *, default: int, ceiling: int) -> int:
    """The URL lifetime: the request's (or ``default``), capped at ``ceiling`` and 7 days."""
    if requested is None:
        value = default
    elif not _is_int(requested) or requested <= 0:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"ttl must be a positive whole number of seconds, not {requested!r}",
            hint=f"ask for 1..{min(ceiling, MAX_TTL)} seconds, or omit it for {default}",
        )
    else:
        value = requested
    return min(value, ceiling, MAX_TTL)


def choose_strategy(profile: Profile, size_bytes: int, multipart: str) -> Strategy:
    """ "single" or "multipart" for mode "auto" (by the profile's threshold), "force" or "off"."""
    if multipart not in STRATEGY_MODES:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"multipart={multipart!r} is not a mode",
            hint="use multipart=auto, force or off",
        )
    if not _is_int(size_bytes) or size_bytes < 0:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"size_bytes must be a whole number of bytes >= 0, not {size_bytes!r}",
            hint="send the file's exact size in bytes",
        )
    if multipart == "off":
        if size_bytes > MAX_SINGLE_PUT:
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                f"a single PUT cannot upload {size_bytes} bytes (the S3 limit is 5 GiB)",
                hint="use multipart=auto or multipart=force",
            )
        return "single"
    if multipart == "force":
        if size_bytes == 0:
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                "a multipart upload needs at least one byte",
                hint="upload an empty file with multipart=auto or off",
            )
        return "multipart"
    if size_bytes >= profile.multipart_threshold or size_bytes > MAX_SINGLE_PUT:
        return "multipart"
    return "single"


def plan_parts(size_bytes: int, part_size: int) -> tuple[int, int]:
    """(part size, part count) for a multipart upload of ``size_bytes``; the part size grows
    to a whole MiB when ``part_size`` would need more than 10,000 parts."""
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size must be within 5 MiB..5 GiB, got {part_size}")
    if not _is_int(size_bytes) or size_bytes <= 0:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"a multipart upload needs size_bytes >= 1, not {size_bytes!r}",
            hint="upload an empty file with a single PUT (multipart=off)",
        )
    if size_bytes > MAX_OBJECT_SIZE:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"{size_bytes} bytes is larger than the S3 object limit of 5 TiB",
            hint="split the file into several objects",
        )
    if math.ceil(size_bytes / part_size) > MAX_PARTS:
        part_size = math.ceil(math.ceil(size_bytes / MAX_PARTS) / MiB) * MiB
    return part_size, math.ceil(size_bytes / part_size)


def part_length(size_bytes: int, part_size: int, part_number: int) -> int:
    """Bytes in 1-based part ``part_number``: ``part_size`` except for a shorter last part."""
    count = math.ceil(size_bytes / part_size) if size_bytes > 0 else 0
    if not _is_int(part_number) or not 1 <= part_number <= count:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"part number {part_number!r} is outside 1..{count}",
            hint=f"this upload has {count} parts of {part_size} bytes",
        )
    return min(part_size, size_bytes - (part_number - 1) * part_size)


# The policy when a deployment names no file. svg is left out on purpose: an SVG served from
# storage's origin can run script (stored XSS).
DEFAULT_POLICY = Policy(
    profiles={
        "default": Profile(
            name="default",
            mime_types={
                "image/png": "png",
                "image/jpeg": "jpg",
                "image/gif": "gif",
                "image/webp": "webp",
                "image/avif": "avif",
                "application/pdf": "pdf",
                "text/plain": "txt",
                "video/mp4": "mp4",
                "video/quicktime": "mov",
                "video/webm": "webm",
            },
            size_max=5 * GiB,
            # Signed into every upload URL: storage encrypts the object at rest (SSE-S3) or
            # refuses the upload; bootstrap gives MinIO the KMS key this needs.
            required_headers={"x-amz-server-side-encryption": "AES256"},
        )
    }
)
