"""Object keys the server chooses, key checks for downloads, and Content-Disposition values.

Upload keys come from the profile's ``key_template``; the client's filename never becomes part
of a key (it may only reappear in a download's Content-Disposition). Template variables:

- ``{prefix}``  the profile's prefix (``uploads``)
- ``{yyyy}``, ``{mm}``, ``{dd}``  the UTC date of ``now``
- ``{uuid}``  a server-generated id; ``{key_base}`` the client's id (ULID/UUID) or the uuid
- ``{shard}``  ``sha1(key_base)`` first 2 hex digits, spreading keys over 256 prefixes;
  ``{shard?}`` the same when the profile's ``enable_sharding`` is on, else nothing (its path
  segment goes with it: ``raw/{shard?}/{key_base}.{ext}`` is ``raw/<key_base>.<ext>``)
- ``{tenant}``  the tenant the request names (validated; see ``Policy.check_tenant``)
- ``{ext}``  the allowlisted extension. Written ``{ext}`` it renders with its dot (``.png``);
  written ``.{ext}`` the template's own dot is used (``.png`` again). With an empty extension
  both forms render nothing, so no key ends in a bare dot. So the default
  ``{prefix}/{yyyy}/{mm}/{uuid}{ext}`` and ``raw/{shard}/{key_base}.{ext}`` both give
  ``….png``.

``object_key`` is the strict entry point for a request: a ``key_base``, ``shard`` or ``tenant``
the template does not use is refused rather than silently dropped, so an answer never echoes a
value as if the key were made from it. ``make_object_key`` renders without those checks (for
trial renders and the property tests).
"""

from __future__ import annotations

import functools
import hashlib
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from signer.core.errors import ErrorCode, SignerError

if TYPE_CHECKING:
    from signer.core.policy import Profile

MAX_KEY_BYTES = 1024
OPTIONAL_SHARD = "shard?"
TEMPLATE_FIELDS = frozenset(
    {"prefix", "yyyy", "mm", "dd", "uuid", "key_base", "shard", OPTIONAL_SHARD, "tenant", "ext"}
)
KEY_BASE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SHARD_PATTERN = re.compile(r"[0-9a-f]{2}")
EXT_PATTERN = re.compile(r"[a-z0-9]{0,16}")
_MAX_FILENAME = 255


def template_fields(template: str) -> list[str]:
    """The placeholder names of ``template``; ValueError for anything but plain ``{name}``."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"malformed template: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; use {', '.join(sorted(TEMPLATE_FIELDS))}"
            )
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must not have a format spec or conversion")
        names.append(name)
    return names


@functools.lru_cache(maxsize=64)
def fixed_prefix(template: str, prefix: str) -> str:
    """The part of every key the template renders before the first per-upload variable."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name != "prefix":
            break
        out.append(prefix)
    return "".join(out)


def key_problem(key: object) -> str | None:
    """Why ``key`` is not a safe object key, or None."""
    if not isinstance(key, str):
        return "the object key is empty"
    return _key_problem(key, characters=True)


def _key_problem(key: str, *, characters: bool) -> str | None:
    """``key_problem``; ``characters=False`` skips the per-character scan, for keys whose
    characters are already known to be safe."""
    if not key:
        return "the object key is empty"
    if key.startswith("/"):
        return "the object key starts with '/'"
    if characters:
        problem = _character_problem(key)
        if problem:
            return problem
    segments = key.split("/")
    if any(segment in (".", "..") for segment in segments):
        return "the object key has a '.' or '..' path segment"
    if "" in segments[:-1]:
        return "the object key has an empty path segment ('//')"
    if not segments[-1]:
        return "the object key ends with '/' (that names a folder, not an object)"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"the object key is longer than {MAX_KEY_BYTES} bytes (UTF-8)"
    return None


def _character_problem(text: str) -> str | None:
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        return "the object key contains a control character"
    if "\\" in text:
        return "the object key contains a backslash"
    return None


@functools.lru_cache(maxsize=64)
def _fixed_text_is_clean(template: str, prefix: str) -> bool:
    """Whether the text a template itself puts in every key (its literals and the prefix)
    is free of control characters and backslashes; checked once per template."""
    literals = [literal for literal, _, _, _ in string.Formatter().parse(template)]
    return all(_character_problem(text) is None for text in [*literals, prefix])


def validate_object_key(key: str) -> str:
    """``key`` if it is a safe object key to presign a download for; else BAD_REQUEST."""
    problem = key_problem(key)
    if problem:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            problem,
            hint="pass the object_key exactly as the upload intent returned it",
        )
    return key


def _render(template: str, values: dict[str, str], sharding: bool) -> str:
    if "{shard?}" in template:
        if sharding:
            template = template.replace("{shard?}", "{shard}")
        else:  # the placeholder leaves with one of its slashes, so no '//' is left behind
            template = template.replace("{shard?}/", "").replace("/{shard?}", "")
            template = template.replace("{shard?}", "")
    ext = values["ext"]
    # ".{ext}" uses the template's dot; folding it into {ext} lets an empty ext drop the dot too.
    dotted = f".{ext}" if ext else ""
    return template.replace(".{ext}", "{ext}").format_map({**values, "ext": dotted})


def _check_tenant(tenant: object) -> None:
    if tenant is not None and (not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant)):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "tenant must be 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit",
            hint="send your tenant's id (an org slug or id), as the key's {tenant} segment",
        )


def make_object_key(
    profile: Profile,
    *,
    ext: str,
    now: datetime,
    uuid: str,
    key_base: str | None = None,
    tenant: str | None = None,
) -> tuple[str, str]:
    """(object key, key_base) for a new upload, rendered from ``profile.key_template``."""
    if not isinstance(uuid, str) or not KEY_BASE_PATTERN.fullmatch(uuid):
        raise ValueError("uuid must be a server-made id matching [A-Za-z0-9][A-Za-z0-9_-]{0,127}")
    if key_base is None or key_base == "":
        key_base = uuid
    elif not isinstance(key_base, str) or not KEY_BASE_PATTERN.fullmatch(key_base):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "key_base must be 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit",
            hint="send an id such as a ULID or UUID, or omit key_base to let the server choose",
        )
    normalized_ext = ext.lower().removeprefix(".") if isinstance(ext, str) else ""
    if not isinstance(ext, str) or not EXT_PATTERN.fullmatch(normalized_ext):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"extension {ext!r} is not up to 16 lower-case letters and digits",
            hint="use the extension the profile allows for this content type",
        )
    _check_tenant(tenant)
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")
    day = now.astimezone(UTC)
    values = {
        "prefix": profile.prefix,
        "yyyy": f"{day.year:04d}",
        "mm": f"{day.month:02d}",
        "dd": f"{day.day:02d}",
        "uuid": uuid,
        "key_base": key_base,
        "shard": shard_of(key_base),
        "tenant": tenant or "",
        "ext": normalized_ext,
    }
    if tenant is None and "tenant" in _names(profile.key_template):
        raise _per_tenant(profile)
    key = _render(profile.key_template, values, profile.enable_sharding)
    # Every value above is ASCII letters, digits, '_' or '-' (checked, or made here), so a
    # control character or backslash could only come from the template's own text, checked
    # once per template. The path's shape depends on the values (an empty ext drops a dot),
    # so it is checked for every key.
    clean = _fixed_text_is_clean(profile.key_template, profile.prefix)
    problem = _key_problem(key, characters=not clean)
    if problem is None and not key.startswith(fixed_prefix(profile.key_template, profile.prefix)):
        problem = "the object key left the profile's prefix"
    if problem:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"cannot make an object key: {problem}",
            hint=f"check profile {profile.name!r}'s key_template and prefix",
        )
    return key, key_base


def shard_of(key_base: str) -> str:
    """The spec's shard: the first two hex digits of ``sha1(key_base)``."""
    return hashlib.sha1(key_base.encode("utf-8"), usedforsecurity=False).hexdigest()[:2]


@functools.lru_cache(maxsize=64)
def _names(template: str) -> frozenset[str]:
    return frozenset(template_fields(template))


def _per_tenant(profile: Profile) -> SignerError:
    return SignerError(
        ErrorCode.BAD_REQUEST,
        f"profile {profile.name!r} keeps each tenant's uploads apart: tenant is required",
        hint="send tenant (your org's id); the key's {tenant} segment is made from it",
    )


def _unused(profile: Profile, field_name: str, placeholder: str) -> SignerError:
    return SignerError(
        ErrorCode.BAD_REQUEST,
        f"profile {profile.name!r} does not use {field_name}: its keys are made from "
        f"key_template {profile.key_template!r}, which has no {placeholder}",
        hint=f"omit {field_name}, or use a profile whose key_template has {placeholder}",
    )


@dataclass(frozen=True)
class ObjectKey:
    """A new upload's key and what it was made from; each of ``key_base``, ``shard`` and
    ``tenant`` is None when the key holds none."""

    key: str
    key_base: str | None
    shard: str | None
    tenant: str | None


def object_key(
    profile: Profile,
    *,
    ext: str,
    now: datetime,
    uuid: str,
    key_base: str | None = None,
    shard: str | None = None,
    tenant: str | None = None,
) -> ObjectKey:
    """A request's object key: ``make_object_key``, refusing (BAD_REQUEST) a ``key_base``,
    ``shard`` or ``tenant`` the template would not use, and a ``shard`` that is not
    ``sha1(key_base)[0:2]`` (keys stay derivable from key_base alone)."""
    names = _names(profile.key_template)
    uses_key_base = "key_base" in names
    sharded = "shard" in names or (OPTIONAL_SHARD in names and profile.enable_sharding)
    if key_base and not uses_key_base:
        raise _unused(profile, "key_base", "{key_base}")
    if tenant is not None and "tenant" not in names:
        raise _unused(profile, "tenant", "{tenant}")
    if shard is not None and not sharded:
        hint_name = "{shard} (or {shard?} with enable_sharding: true)"
        raise _unused(profile, "shard", hint_name)
    key, base = make_object_key(
        profile, ext=ext, now=now, uuid=uuid, key_base=key_base, tenant=tenant
    )
    computed = shard_of(base)
    if shard is not None and shard != computed:
        shown = repr(shard) if isinstance(shard, str) and SHARD_PATTERN.fullmatch(shard) else "it"
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"shard {shown} is not sha1(key_base)[0:2] = {computed!r}",
            hint="send the shard computed from the key_base (2 lower-case hex digits), or omit it",
        )
    return ObjectKey(key, base if uses_key_base else None, computed if sharded else None, tenant)


_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
_PATTERNS = {
    "yyyy": r"[0-9]{4}",
    "mm": r"[0-9]{2}",
    "dd": r"[0-9]{2}",
    "uuid": _ID,
    "key_base": _ID,
    "shard": r"[0-9a-f]{2}",
    "tenant": rf"(?P<tenant>{TENANT_PATTERN.pattern})",
    "ext": r"(?:\.[a-z0-9]{1,16})?",
}


@functools.lru_cache(maxsize=64)
def _key_pattern(template: str, prefix: str) -> re.Pattern[str]:
    """What every key ``template`` renders looks like (with or without ``{shard?}``)."""
    pieces = list(string.Formatter().parse(template.replace(".{ext}", "{ext}")))
    out = []
    skip_slash = False
    for index, (literal, name, _, _) in enumerate(pieces):
        if skip_slash:
            literal, skip_slash = literal[1:], False
        out.append(re.escape(literal))
        if name == "prefix":
            out.append(re.escape(prefix))
        elif name == OPTIONAL_SHARD:
            following = pieces[index + 1][0] if index + 1 < len(pieces) else ""
            skip_slash = following.startswith("/")
            out.append("(?:[0-9a-f]{2}/)?" if skip_slash else "(?:[0-9a-f]{2})?")
        elif name is not None:
            out.append(_PATTERNS[name])
    return re.compile("".join(out))


def key_tenant(profile: Profile, key: str) -> str | None:
    """The tenant in a key ``profile`` made (None if its keys have none); BAD_REQUEST for a
    key its template could not have made, when the template has a {tenant}."""
    if "tenant" not in _names(profile.key_template):
        return None
    match = _key_pattern(profile.key_template, profile.prefix).fullmatch(key)
    if match is None:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"object_key is not a key profile {profile.name!r} makes",
            hint="pass the object_key exactly as the upload's answer returned it",
        )
    return match["tenant"]


def _sanitize_filename(filename: str) -> str:
    # Only the last path component: a name must never smuggle a directory to the saver.
    name = filename.rpartition("/")[2].rpartition("\\")[2]
    # Cc: control characters; Cf: invisible formatting such as RTL overrides that disguise
    # "gpj.exe" as "exe.jpg". Printable ASCII (most names) holds none of them.
    if not (name.isascii() and name.isprintable()):
        name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = name.strip()
    if name.strip(".") == "":
        return ""
    return name[:_MAX_FILENAME]


# What _ascii_fallback makes of an ASCII character: itself, or '_' (see there).
_ASCII_FALLBACK = str.maketrans(
    {chr(c): "_" for c in range(128) if not " " <= chr(c) <= "~" or chr(c) in '"\\%'}
)


def _ascii_fallback(name: str) -> str:
    if name.isascii():  # NFKD leaves ASCII as it is, and it has no combining character
        return name.translate(_ASCII_FALLBACK)
    decomposed = unicodedata.normalize("NFKD", name)
    chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        # '"' and '\\' would end or escape the quoted-string; '%' is decoded by some browsers
        # (RFC 6266 appendix D), so all three become '_' like every non-ASCII character.
        chars.append(ch if " " <= ch <= "~" and ch not in '"\\%' else "_")
    return "".join(chars)


def content_disposition(disposition: str, filename: str | None) -> str:
    """An RFC 6266 Content-Disposition: ``attachment; filename="..."; filename*=UTF-8''...``."""
    kind = disposition.strip().lower() if isinstance(disposition, str) else ""
    if kind not in ("inline", "attachment"):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"disposition {disposition!r} is not inline or attachment",
            hint="use disposition=inline to display in the browser or attachment to download",
        )
    name = _sanitize_filename(filename) if isinstance(filename, str) else ""
    if not name:
        return kind
    # RFC 5987 attr-char: ALPHA DIGIT ! # $ & + - . ^ _ ` | ~
    encoded = quote(name, safe="!#$&+^`|")
    return f"{kind}; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"
