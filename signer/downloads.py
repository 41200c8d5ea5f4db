"""The download use-case: presign a GET of an object an upload created.

The plan (no I/O) checks the key, finds the profile whose prefix it falls under, and decides
the URL's lifetime, its Content-Disposition and any Content-Type the client asked for;
``execute`` asks storage whether the object exists (so a client learns of a wrong key now,
not from storage later) and signs the URL.

What the download serves is pinned in the URL with S3's response-* overrides, never left to
what the object carries: Content-Disposition and Content-Type always (the stored type only if
the profile allows it), and a neutral value for any Cache-Control, Content-Encoding,
Content-Language or Expires the object was stored with (``signer.core.policy``): an uploader
may have added those to a presigned PUT without the signature covering them.

A key with a ``{tenant}`` segment is presigned only for an API token the policy file lets use
that tenant (when it limits tokens to tenants), as its uploads are. The URL is for the public
endpoint, or the internal one when asked (``endpoint: internal``). Every decision writes one
audit line (``signer.audit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from common.s3vocab import STATE_PREFIX
from signer.audit import Facts
from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import content_disposition, key_tenant, validate_object_key
from signer.core.policy import (
    Profile,
    clamp_ttl,
    neutral_overrides,
    normalize_content_type,
    served_content_type,
)
from signer.core.tokens import Endpoint
from signer.models import DownloadRequest, DownloadResponse
from signer.service import SignerService, expires_at
from signer.usecase import Audit, UseCase


@dataclass(frozen=True)
class DownloadPlan:
    """A download decided: the key, its profile, the URL's lifetime and the response-* query
    known before the object is seen (its Content-Type too, if the client asked for one)."""

    key: str
    profile: Profile
    ttl: int
    query: Mapping[str, str]
    endpoint: Endpoint = "public"
    subject: str = ""
    actor: str | None = None
    tenant: str | None = None

    @property
    def needs_storage(self) -> bool:
        return True  # does the object exist?


def plan_download(service: SignerService, req: DownloadRequest, subject: str) -> DownloadPlan:
    key = validate_object_key(req.object_key)
    if key.startswith(STATE_PREFIX):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"keys under {STATE_PREFIX} are the signer's own records",
            hint="ask for an object an upload created",
        )
    profile = service.profile_for_key(key)
    tenant = key_tenant(profile, key)
    service.check_tenant(subject, tenant)
    ttl = clamp_ttl(req.ttl_seconds, default=profile.get_ttl, ceiling=profile.ttl_max)
    query = {"response-content-disposition": content_disposition(req.disposition, req.filename)}
    if req.response_content_type is not None:
        media = normalize_content_type(req.response_content_type)
        if media not in profile.mime_types:
            raise SignerError(
                ErrorCode.MIME_NOT_ALLOWED,
                f"response_content_type {media!r} is not allowed by profile {profile.name!r}",
                hint=f"allowed types: {', '.join(sorted(profile.mime_types))}",
            )
        query["response-content-type"] = req.response_content_type
    return DownloadPlan(key, profile, ttl, query, req.endpoint, subject, req.actor, tenant)


def execute_download(service: SignerService, plan: DownloadPlan) -> DownloadResponse:
    stored = service.storage.stat(plan.key)
    if stored is None:
        raise SignerError(
            ErrorCode.NOT_FOUND,
            f"no object {plan.key}",
            hint="check the object_key the upload's complete returned",
        )
    query = {
        **neutral_overrides(stored.served),
        "response-content-type": served_content_type(plan.profile, stored.content_type),
        **plan.query,
    }
    now = service.now()
    url = service.sign(
        "GET", plan.key, now=now, expires=plan.ttl, query=query, endpoint=plan.endpoint
    )
    return DownloadResponse(url=url, expires_at=expires_at(now, plan.ttl))


def _asked(req: DownloadRequest, subject: str) -> Facts:
    return {"requester": subject, "actor": req.actor, "object_key": req.object_key}


def _decided(plan: DownloadPlan) -> Facts:
    return {
        "requester": plan.subject,
        "actor": plan.actor,
        "tenant": plan.tenant,
        "profile": plan.profile.name,
        "object_key": plan.key,
        "endpoint": plan.endpoint if plan.endpoint != "public" else None,
    }


presign_download = UseCase(
    plan=plan_download, execute=execute_download, audit=Audit("download", _asked, _decided)
)
