"""Browser upload tokens: what a backend hands a web page so that the page can upload straight
to storage (through Uppy, ``signer.uppy``) without ever holding an API token.

``POST /v1/browser-tokens`` (API token) mints one: a short-lived JWT carrying a
``BrowserGrant`` — one upload profile, a per-file size limit, how many uploads it may start,
and optionally the one page origin it is for. It is signed with the intent-token keys
(``SIGNER_TOKEN_SECRETS``), so every replica verifies it, under its own audience and ``kind``,
so it is never taken for an intent token nor an intent token for it. What it cannot do
follows from where it is checked: the ``/v1`` routes authenticate API tokens only, so it
cannot presign a download, reach another profile, or mint more tokens; the Uppy routes read
the profile, size and count from it and nothing from the page.

``count`` is enforced without state in the signer, as intent tokens' single use is: starting
an upload (a POST-policy form, or a multipart upload) first claims the next of the grant's
``count`` markers, ``.minio-stack/intents/<token id>.<n>``, written with ``If-None-Match: *``.
Markers are claimed in order and never deleted, so the taken ones are always ``1..m``: a
binary search over HEADs finds ``m`` in ``log2(count)`` calls, and two replicas racing for
``m + 1`` cannot both win it. A refused request (a type outside the profile, say) is refused
by its plan, before any marker is claimed, so it costs the page nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from common.validators import parse_origin
from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import MAX_OBJECT_SIZE, Profile
from signer.core.tokens import BrowserGrant
from signer.models import Request, Response
from signer.service import SignerService, expires_at, rfc3339
from signer.settings import Settings
from signer.usecase import UseCase

DEFAULT_TTL = 900
# Short-lived by design: it is handed to a page; an upload started in time may still finish.
MAX_TTL = 3600
MAX_COUNT = 1000
# Uppy's routes live under this prefix, the token as the next path segment (see signer.uppy).
UPPY_PREFIX = "/uppy"
_AUDIENCE_SUFFIX = "/browser-upload"
_MINT_HINT = "ask your backend for a new browser token (POST /v1/browser-tokens)"


class BrowserTokenRequest(Request):
    """Ask for a browser upload token. Every limit is optional and can only narrow the
    profile's own."""

    profile: str | None = Field(None, max_length=64, description="Upload profile (policy).")
    size_max: int | None = Field(
        None,
        ge=1,
        le=MAX_OBJECT_SIZE,
        description="Largest file, in bytes; at most the profile's size_max (its default).",
    )
    count: int = Field(1, ge=1, le=MAX_COUNT, description="How many uploads it may start.")
    ttl_seconds: int | None = Field(
        None,
        ge=1,
        description=f"Lifetime for starting uploads (default {DEFAULT_TTL}); clamped to {MAX_TTL}.",
    )
    origin: str | None = Field(
        None,
        max_length=255,
        description="The page's origin (scheme://host[:port]): requests from any other "
        "origin are refused, and this one gets CORS headers.",
    )


class UppyRestrictions(Response):
    """Uppy's own ``restrictions`` option, from the grant: Uppy refuses what the signer would,
    before a byte moves, in its own words."""

    allowedFileTypes: list[str]  # Uppy's own option names
    maxFileSize: int
    maxNumberOfFiles: int


class BrowserTokenResponse(Response):
    token: str = Field(description="Give it to the page; it works only on the Uppy routes.")
    token_id: str = Field(description="Not secret: names this token's upload markers.")
    expires_at: str = Field(description="Until when uploads may start (RFC 3339, UTC).")
    profile: str
    size_max: int
    count: int
    origin: str | None = None
    uppy_endpoint_path: str = Field(
        description="Uppy's companionEndpoint is the signer's URL followed by this path."
    )
    multipart_threshold: int = Field(
        description="The profile's threshold: a page's shouldUseMultipart may use it."
    )
    restrictions: UppyRestrictions


def browser_audience(settings: Settings) -> str:
    """Browser tokens' ``aud``: never the intent tokens' own."""
    return settings.token_audience + _AUDIENCE_SUFFIX


def size_limit(grant: BrowserGrant, profile: Profile) -> int:
    """The most one file may hold: the grant's limit, or the profile's if it shrank since."""
    return min(grant.size_max, profile.size_max)


def uppy_path(token: str) -> str:
    return f"{UPPY_PREFIX}/{token}"


# --- mint -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantPlan:
    grant: BrowserGrant
    profile: Profile
    now: datetime
    ttl: int

    @property
    def needs_storage(self) -> bool:
        return False


def plan_grant(service: SignerService, req: BrowserTokenRequest, subject: str) -> GrantPlan:
    profile = service.settings.policy.profile(req.profile)
    size_max = req.size_max if req.size_max is not None else profile.size_max
    if size_max > profile.size_max:
        raise SignerError(
            ErrorCode.SIZE_TOO_LARGE,
            f"size_max {size_max} is larger than profile {profile.name!r} allows",
            hint=f"ask for at most {profile.size_max} bytes, or leave size_max out",
        )
    origin = None
    if req.origin is not None:
        try:
            origin = parse_origin(req.origin)
        except ValueError as exc:
            raise SignerError(ErrorCode.BAD_REQUEST, f"origin: {exc}") from None
    grant = BrowserGrant(
        id=uuid.uuid4().hex,
        subject=subject,
        bucket=service.settings.bucket,
        profile=profile.name,
        size_max=size_max,
        count=req.count,
        origin=origin,
    )
    ttl = min(req.ttl_seconds or DEFAULT_TTL, MAX_TTL)
    return GrantPlan(grant, profile, service.now(), ttl)


def execute_grant(service: SignerService, plan: GrantPlan) -> BrowserTokenResponse:
    s, grant, profile = service.settings, plan.grant, plan.profile
    token = s.keys.issue_grant(
        grant, now=plan.now, ttl=plan.ttl, issuer=s.token_issuer, audience=browser_audience(s)
    )
    return BrowserTokenResponse(
        token=token,
        token_id=grant.id,
        expires_at=expires_at(plan.now, plan.ttl),
        profile=grant.profile,
        size_max=grant.size_max,
        count=grant.count,
        origin=grant.origin,
        uppy_endpoint_path=uppy_path(token),
        multipart_threshold=profile.multipart_threshold,
        restrictions=UppyRestrictions(
            allowedFileTypes=sorted(profile.mime_types),
            maxFileSize=grant.size_max,
            maxNumberOfFiles=grant.count,
        ),
    )


mint_browser_token = UseCase(plan=plan_grant, execute=execute_grant)


# --- use ----------------------------------------------------------------------------------------


def read_grant(service: SignerService, token: str, *, allow_expired: bool) -> BrowserGrant:
    """The grant ``token`` carries if this signer issued it for this bucket; UNAUTHORIZED
    otherwise. ``allow_expired``: see ``TokenKeys.verify_grant``."""
    s = service.settings
    grant = s.keys.verify_grant(
        token,
        now=service.clock(),
        issuer=s.token_issuer,
        audience=browser_audience(s),
        allow_expired=allow_expired,
    )
    if grant.bucket != s.bucket:
        raise SignerError(
            ErrorCode.UNAUTHORIZED,
            "browser token rejected: it was issued for another bucket",
            hint=_MINT_HINT,
        )
    return grant


def grant_subject(grant: BrowserGrant) -> str:
    """The ``sub`` of the intents a grant starts: ties each upload to the one browser token."""
    return f"browser-{grant.id}"


def _marker(grant: BrowserGrant, number: int) -> str:
    return f"{grant.id}.{number}"


def claim_upload(service: SignerService, grant: BrowserGrant, object_key: str) -> int:
    """Take the next of the grant's ``count`` uploads (see the module docstring); which one
    it was, or CONFLICT when all are taken. Storage calls: run it in the thread pool."""
    storage = service.storage
    taken, free_above = 0, grant.count  # 1..taken are taken; none above free_above is known
    while taken < free_above:
        middle = (taken + free_above + 1) // 2
        if storage.intent_state(_marker(grant, middle)) is not None:
            taken = middle
        else:
            free_above = middle - 1
    record = {
        "object_key": object_key,
        "claimed_at": rfc3339(service.now()),
        "sub": grant.subject,
        "browser_token": grant.id,
    }
    for number in range(taken + 1, grant.count + 1):
        if storage.record_intent(_marker(grant, number), "claimed", record):
            return number
    plural = "" if grant.count == 1 else "s"
    raise SignerError(
        ErrorCode.CONFLICT,
        f"this browser token has already started its {grant.count} upload{plural}",
        hint=f"{_MINT_HINT} with a higher count",
    )
