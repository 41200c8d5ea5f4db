"""The upload use-cases: presign an upload (one PUT, or a multipart upload), presign a browser
form upload, sign more part URLs (in batches, or one by the spec's per-part route), renew an
intent token, complete, abort.

Each is a ``UseCase`` (``signer.usecase``): a plan made without I/O, then ``execute``. Only a
multipart presign, complete and abort need storage; a single PUT, a form and part URLs are
only signed, so their whole request stays on the event loop.

Nothing is kept in memory between requests: what an upload may be travels in its signed
intent token (``signer.core.tokens.Intent``), and what must be remembered (that an intent was
completed or aborted) is written to storage as ``.minio-stack/intents/<id>`` with
``If-None-Match: *``, so any replica, or a restarted one, answers the same. Each upload also
stores its intent id as ``x-amz-meta-intent`` (a signed header, or a POST field), so complete
only ever judges (and deletes) an object that the same intent uploaded, never another one at
the same key.

Only complete writes an object key a client names. A single PUT and a form upload land on the
intent's own staging key (``signer.storage.staging_key``); complete checks what landed there
and promotes it to the object key with a copy that never overwrites (``Storage.promote``)
and that carries only the headers the signer chose. That is what makes uploads
tamper-proof where a presigned URL alone cannot: a POST policy cannot be made conditional
(storage honours no ``If-None-Match`` on a form), a URL works until it expires whatever
complete or abort did, and storage keeps headers a client added to a PUT without the
signature covering them. So, however a client uses what it holds: no upload overwrites an
object (another intent's, with a reused key_base, gets ``conflict``); nothing changes an
object after complete accepted it; an upload after abort only reaches a staging key, never
downloadable and never promoted; and a download serves the headers the signer set. A
multipart upload is created at the object key with the signer's headers (a part's headers
are never stored), its URLs die with it when it is completed or aborted, and it is
completed only with all its parts, ``If-None-Match: *``.

Intent tokens are short-lived (the profile's ``token_ttl``); an upload's window
(``signer.service.intent_window``) is not. Within it, ``refresh`` renews a token for an intent
that is neither completed nor aborted (and, multipart, whose upload storage still holds);
complete and abort take an expired token as they are, since they end the intent; part URLs
need an unexpired one, since they are what writes bytes.

Each use-case has an ``Audit``: one line per decision (``signer.audit``), with what was asked
and decided, never a token or a URL.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from signer.audit import Facts
from signer.core import sigv4
from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import ObjectKey
from signer.core.policy import (
    Profile,
    check_upload,
    choose_strategy,
    clamp_ttl,
    part_length,
    plan_parts,
)
from signer.core.tokens import Intent, IntentStrategy, Parts
from signer.models import (
    AbortRequest,
    AbortResponse,
    CompletedPart,
    CompleteRequest,
    CompleteResponse,
    MultipartUpload,
    PartPresignRequest,
    PartPresignResponse,
    PartsRequest,
    PartsResponse,
    PostUpload,
    PresignPostRequest,
    PresignPostResponse,
    PresignRequest,
    PresignResponse,
    RefreshRequest,
    RefreshResponse,
    SignerCall,
    SingleUpload,
    UploadFields,
)
from signer.service import (
    PER_PART_HEADER,
    SignerService,
    expires_at,
    intent_window,
    rfc3339,
    rfc3339_epoch,
)
from signer.storage import SourceChanged, StoredObject, UploadGone, staging_key
from signer.usecase import Audit, UseCase

# Stored with every upload (a signed header, a create header, a POST field): complete only
# ever judges, and deletes, an object that carries its own intent's id.
INTENT_HEADER = "x-amz-meta-intent"
INTENT_METADATA = "intent"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SINGLE_USE = "an intent token is single-use; request a new upload intent"
# The signer's own routes a multipart answer describes (signer.routes holds the table).
PART_PATH = "/v1/uploads/presign/part"
COMPLETE_PATH = "/v1/uploads/complete"
ABORT_PATH = "/v1/uploads/abort"
_JSON = {"Content-Type": "application/json"}


def checksum_header(value: str) -> str:
    """``x-amz-checksum-sha256`` (base64 of the digest) from base64 or hex input."""
    text = value.strip()
    if _HEX_SHA256.fullmatch(text):
        return base64.b64encode(bytes.fromhex(text)).decode("ascii")
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "checksum_sha256 is not a SHA-256 digest",
            hint="send the digest as base64 (44 characters, as S3 wants it) or as hex "
            "(64 characters, as sha256sum prints it)",
        )
    return base64.b64encode(digest).decode("ascii")


def _put_ttl(profile: Profile) -> int:
    return clamp_ttl(None, default=profile.put_ttl, ceiling=profile.ttl_max)


# --- presign an upload: one PUT, or a multipart upload created on storage ---------------------


@dataclass(frozen=True)
class MultipartPlan:
    """How a multipart upload is split, and the headers storage must create it with."""

    size: int
    part_size: int
    part_count: int
    create_headers: Mapping[str, str]


@dataclass(frozen=True)
class UploadPlan:
    """A presign decided: the intent (key, type, size, strategy, headers), when and for how
    long its URLs are signed, and, for a multipart upload, the upload storage must create."""

    intent: Intent
    profile: Profile
    now: datetime
    ttl: int
    checksum: str | None
    multipart: MultipartPlan | None
    kind: str | None = None

    @property
    def needs_storage(self) -> bool:
        return self.multipart is not None

    @property
    def key_base(self) -> str | None:
        return self.intent.key_base


def media_type(req: UploadFields) -> str:
    """The upload's Content-Type: ``content_type`` or the spec's ``mime`` (one is required;
    both may be sent if they are equal)."""
    given = [value for value in (req.content_type, req.mime) if value is not None]
    if not given:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "field 'mime' (or 'content_type') is required",
            hint="send the Content-Type the client will upload with, e.g. mime: image/png",
        )
    if len(given) == 2 and given[0] != given[1]:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "content_type and mime differ; they name the same thing",
            hint="send one of them",
        )
    return given[0]


@dataclass(frozen=True)
class _Decided:
    """What every upload presign decides first: profile, type, extension, key, clock."""

    profile: Profile
    content_type: str
    ext: str
    key: ObjectKey
    now: datetime


def _decide(service: SignerService, req: UploadFields, subject: str, size: int | None) -> _Decided:
    profile = service.settings.policy.profile(req.profile)
    content_type = media_type(req)
    bucket = service.settings.bucket
    if req.bucket is not None and req.bucket != bucket:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"bucket {req.bucket!r} is not the bucket this signer uploads to",
            hint=f"send bucket {bucket!r}, or omit bucket",
        )
    ext = check_upload(
        profile,
        content_type=content_type,
        size_bytes=size if size is not None else 0,
        ext=req.ext,
        kind=req.kind,
    )
    service.check_tenant(subject, req.tenant)
    now = service.now()
    key = service.object_key(profile, ext, now, req.key_base, shard=req.shard, tenant=req.tenant)
    return _Decided(profile, content_type, ext, key, now)


def _new_intent(
    service: SignerService,
    req: UploadFields,
    subject: str,
    decided: _Decided,
    *,
    size: int | None,
    size_max: int,
    strategy: IntentStrategy,
) -> Intent:
    key = decided.key
    return Intent(
        id=uuid.uuid4().hex,
        subject=subject,
        actor=req.actor,
        bucket=service.settings.bucket,
        object_key=key.key,
        profile=decided.profile.name,
        content_type=decided.content_type,
        size=size,
        size_max=size_max,
        strategy=strategy,
        required_headers=dict(decided.profile.required_headers),
        filename=req.filename,
        key_base=key.key_base,
        ext=decided.ext,
        shard=key.shard,
        tenant=key.tenant,
        endpoint=req.endpoint,
        # The intent's first token is issued at the moment it was decided, which opens its
        # window (SignerService.windowed would set the same end when issuing it).
        renew_until=int(decided.now.timestamp()) + intent_window(decided.profile, strategy),
    )


def plan_upload(service: SignerService, req: PresignRequest, subject: str) -> UploadPlan:
    decided = _decide(service, req, subject, req.size_bytes)
    profile = decided.profile
    strategy = choose_strategy(profile, req.size_bytes, req.multipart)
    checksum = checksum_header(req.checksum_sha256) if req.checksum_sha256 else None
    if checksum and strategy == "multipart":
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "checksum_sha256 applies to single PUT uploads, and this upload is multipart",
            hint="send multipart=off (up to 5 GiB), or leave checksum_sha256 out",
        )
    intent = _new_intent(
        service,
        req,
        subject,
        decided,
        size=req.size_bytes,
        size_max=req.size_bytes,
        strategy=strategy,
    )
    multipart = None
    if strategy == "multipart":
        part_size, part_count = plan_parts(req.size_bytes, profile.part_size)
        multipart = MultipartPlan(req.size_bytes, part_size, part_count, _object_headers(intent))
    ttl = _put_ttl(profile)
    return UploadPlan(intent, profile, decided.now, ttl, checksum, multipart, req.kind)


def execute_upload(service: SignerService, plan: UploadPlan) -> PresignResponse:
    upload: SingleUpload | MultipartUpload
    if plan.multipart is None:
        intent, upload = plan.intent, _single_upload(service, plan)
    else:
        intent, upload = _multipart_upload(service, plan, plan.multipart)
    token = service.issue(intent, plan.profile, plan.now)
    if isinstance(upload, MultipartUpload):
        upload = upload.model_copy(update=_signer_calls(token, upload.upload_id))
    return PresignResponse(
        object_key=intent.object_key,
        key_base=intent.key_base,
        shard=intent.shard,
        bucket=intent.bucket,
        mime=intent.content_type,
        strategy="single" if plan.multipart is None else "multipart",
        expires_at=expires_at(plan.now, plan.ttl),
        intent_token=token,
        token_expires_at=_token_expires_at(service, intent, plan.profile, plan.now),
        upload=upload,
        get_url=_get_url(service, intent, plan.profile, plan.now),
    )


def _token_expires_at(
    service: SignerService, intent: Intent, profile: Profile, now: datetime
) -> str:
    return expires_at(now, service.token_life(intent, profile, now))


def _signer_calls(token: str, upload_id: str) -> dict[str, SignerCall]:
    """The spec's multipart descriptors, for the signer's own routes (which check what the
    spec's presigned storage calls could not: every part there, the size, the type)."""
    return {
        "part": SignerCall(
            url=PART_PATH, headers=_JSON, body={"intent_token": token, "uploadId": upload_id}
        ),
        "complete": SignerCall(url=COMPLETE_PATH, headers=_JSON, body={"intent_token": token}),
        "abort": SignerCall(url=ABORT_PATH, headers=_JSON, body={"intent_token": token}),
    }


def _get_url(service: SignerService, intent: Intent, profile: Profile, now: datetime) -> str:
    return service.get_url(
        intent.object_key, profile, intent.filename, intent.content_type, now, intent.endpoint
    )


def intent_facts(intent: Intent, requester: str) -> dict[str, object]:
    """What an audit line says of an intent (``signer.audit``)."""
    return {
        "requester": requester,
        "actor": intent.actor,
        "tenant": intent.tenant,
        "intent": intent.id,
        "profile": intent.profile,
        "key_base": intent.key_base,
        "object_key": intent.object_key,
        "mime": intent.content_type,
        "size_bytes": intent.size,
        "strategy": intent.strategy,
        "endpoint": intent.endpoint if intent.endpoint != "public" else None,
    }


UploadT = TypeVar("UploadT", bound=UploadFields)
AnyRequest = TypeVar("AnyRequest", bound=BaseModel)


def _asked(req: UploadT, subject: str) -> Facts:
    """What an audit line says of a presign refused before it was decided."""
    return {
        "requester": subject,
        "actor": req.actor,
        "tenant": req.tenant,
        "profile": req.profile,
        "key_base": req.key_base,
        "mime": req.content_type or req.mime,
        "kind": req.kind,
        "size_bytes": getattr(req, "size_bytes", None),
        "endpoint": req.endpoint if req.endpoint != "public" else None,
    }


def _object_headers(intent: Intent) -> dict[str, str]:
    """What the object at the intent's key is stored with: the declared type, the intent's
    id, the profile's required headers (SSE). Nothing else, whatever the uploader sent."""
    return {
        "Content-Type": intent.content_type,
        INTENT_HEADER: intent.id,
        **intent.required_headers,
    }


def _single_upload(service: SignerService, plan: UploadPlan) -> SingleUpload:
    intent = plan.intent
    headers = {
        "Content-Type": intent.content_type,
        "Content-Length": str(intent.size),
        # Storage refuses a second PUT to the key: an upload URL writes once.
        "If-None-Match": "*",
        **({"x-amz-checksum-sha256": plan.checksum} if plan.checksum else {}),
        INTENT_HEADER: intent.id,
        **intent.required_headers,
    }
    url = service.sign(
        "PUT",
        staging_key(intent.id),
        now=plan.now,
        expires=plan.ttl,
        headers=headers,
        endpoint=intent.endpoint,
    )
    return SingleUpload(url=url, headers=headers)


def _multipart_upload(
    service: SignerService, plan: UploadPlan, split: MultipartPlan
) -> tuple[Intent, MultipartUpload]:
    """Create the upload on storage; the intent that now names it, and its first part URLs."""
    upload_id = service.storage.create_multipart(plan.intent.object_key, split.create_headers)
    parts = Parts(upload_id=upload_id, part_size=split.part_size, part_count=split.part_count)
    intent = replace(plan.intent, parts=parts)
    urls = [
        service.part_url(intent, split.size, parts, number, plan.now, plan.ttl)
        for number in range(1, min(parts.part_count, service.initial_parts) + 1)
    ]
    upload = MultipartUpload(
        upload_id=upload_id, part_size=parts.part_size, part_count=parts.part_count, parts=urls
    )
    return intent, upload


presign_upload: UseCase[PresignRequest, UploadPlan, PresignResponse] = UseCase(
    plan=plan_upload,
    execute=execute_upload,
    audit=Audit(
        "presign",
        _asked,
        lambda plan: {**intent_facts(plan.intent, plan.intent.subject), "kind": plan.kind},
        lambda answer: {"strategy": answer.strategy},
    ),
)


# --- presign a browser form upload (POST policy) ---------------------------------------------


@dataclass(frozen=True)
class PostPlan:
    """A form upload decided: the intent, and when and for how long its policy is signed."""

    intent: Intent
    profile: Profile
    now: datetime
    ttl: int

    @property
    def needs_storage(self) -> bool:
        return False


def plan_post(service: SignerService, req: PresignPostRequest, subject: str) -> PostPlan:
    declared = req.size_bytes
    decided = _decide(service, req, subject, declared)
    size_max = declared if declared is not None else decided.profile.size_max
    intent = _new_intent(
        service, req, subject, decided, size=declared, size_max=size_max, strategy="post"
    )
    return PostPlan(intent, decided.profile, decided.now, _put_ttl(decided.profile))


def execute_post(service: SignerService, plan: PostPlan) -> PresignPostResponse:
    intent, s = plan.intent, service.settings
    high = intent.size_max
    url, fields = sigv4.presign_post(
        endpoint=service.endpoint_url(intent.endpoint),
        bucket=s.bucket,
        key=staging_key(intent.id),
        access_key=s.access_key,
        secret_key=s.secret_key,
        region=s.region,
        now=plan.now,
        expires=plan.ttl,
        # Storage checks these against the form, so size and type are enforced by storage
        # itself even though a browser form cannot be made to send signed headers.
        conditions=[
            ["content-length-range", min(1, high), high],
            ["eq", "$Content-Type", intent.content_type],
        ],
        fields={
            "Content-Type": intent.content_type,
            INTENT_HEADER: intent.id,
            **intent.required_headers,
        },
    )
    return PresignPostResponse(
        object_key=intent.object_key,
        key_base=intent.key_base,
        shard=intent.shard,
        bucket=intent.bucket,
        mime=intent.content_type,
        expires_at=expires_at(plan.now, plan.ttl),
        intent_token=service.issue(intent, plan.profile, plan.now),
        token_expires_at=_token_expires_at(service, intent, plan.profile, plan.now),
        upload=PostUpload(url=url, fields=fields),
        get_url=_get_url(service, intent, plan.profile, plan.now),
    )


presign_post: UseCase[PresignPostRequest, PostPlan, PresignPostResponse] = UseCase(
    plan=plan_post,
    execute=execute_post,
    audit=Audit(
        "presign_post", _asked, lambda plan: intent_facts(plan.intent, plan.intent.subject)
    ),
)


# --- sign more part URLs ----------------------------------------------------------------------


@dataclass(frozen=True)
class PartsPlan:
    """Part URLs to sign for a multipart intent, when and for how long."""

    intent: Intent
    size: int
    parts: Parts
    numbers: tuple[int, ...]
    now: datetime
    ttl: int
    subject: str = ""

    @property
    def needs_storage(self) -> bool:
        return False


def _multipart(service: SignerService, intent: Intent, subject: str) -> tuple[int, Parts]:
    """(size, parts) of a multipart intent ``subject`` may act on; else BAD_REQUEST."""
    service.check_tenant(subject, intent.tenant)
    # A multipart intent always carries its parts and its exact size (Intent.from_claims).
    if intent.parts is None or intent.size is None:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "this intent is not a multipart upload",
            hint="upload with the single URL the presign returned",
        )
    return intent.size, intent.parts


def plan_sign_parts(
    service: SignerService, req: PartsRequest, subject: str, *, renewable: bool = False
) -> PartsPlan:
    """``renewable``: accept a token expired within its window (the Uppy routes, whose
    upload id is the intent token itself and cannot be renewed mid-upload)."""
    if renewable:
        intent = service.read_intent(req.intent_token, renewable=True)
    else:
        intent = service.read_live_intent(req.intent_token)
    size, parts = _multipart(service, intent, subject)
    if len(set(req.part_numbers)) != len(req.part_numbers):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "part_numbers lists a part twice",
            hint="ask for each part number once",
        )
    ttl = _put_ttl(service.intent_profile(intent))
    numbers = tuple(req.part_numbers)
    return PartsPlan(intent, size, parts, numbers, service.now(), ttl, subject)


def execute_sign_parts(service: SignerService, plan: PartsPlan) -> PartsResponse:
    urls = [
        service.part_url(plan.intent, plan.size, plan.parts, number, plan.now, plan.ttl)
        for number in plan.numbers
    ]
    return PartsResponse(parts=urls, expires_at=expires_at(plan.now, plan.ttl))


def _requester(req: AnyRequest, subject: str) -> Facts:
    return {"requester": subject}


sign_parts: UseCase[PartsRequest, PartsPlan, PartsResponse] = UseCase(
    plan=plan_sign_parts,
    execute=execute_sign_parts,
    audit=Audit(
        "parts",
        _requester,
        lambda plan: {**intent_facts(plan.intent, plan.subject), "parts": len(plan.numbers)},
    ),
)


# --- the spec's per-part route: one part URL by uploadId and partNumber ------------------------


@dataclass(frozen=True)
class PartPlan:
    """One part URL to sign, checked against the intent's upload and parts."""

    intent: Intent
    size: int
    parts: Parts
    number: int
    now: datetime
    ttl: int
    subject: str

    @property
    def needs_storage(self) -> bool:
        return False


def plan_part(service: SignerService, req: PartPresignRequest, subject: str) -> PartPlan:
    intent = service.read_live_intent(req.intent_token)
    size, parts = _multipart(service, intent, subject)
    if req.uploadId != parts.upload_id:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "uploadId is not the upload of this intent_token",
            hint="send upload.upload_id from the presign that issued this intent_token",
        )
    part_length(size, parts.part_size, req.partNumber)  # BAD_REQUEST outside 1..part_count
    ttl = _put_ttl(service.intent_profile(intent))
    return PartPlan(intent, size, parts, req.partNumber, service.now(), ttl, subject)


def execute_part(service: SignerService, plan: PartPlan) -> PartPresignResponse:
    part = service.part_url(plan.intent, plan.size, plan.parts, plan.number, plan.now, plan.ttl)
    return PartPresignResponse(
        url=part.url,
        headers=part.headers,
        part_number=plan.number,
        expires_at=expires_at(plan.now, plan.ttl),
    )


presign_part: UseCase[PartPresignRequest, PartPlan, PartPresignResponse] = UseCase(
    plan=plan_part,
    execute=execute_part,
    audit=Audit(
        "part",
        _requester,
        lambda plan: {**intent_facts(plan.intent, plan.subject), "parts": plan.number},
    ),
)


# --- renew an intent token ------------------------------------------------------------------------


@dataclass(frozen=True)
class IntentPlan:
    """An intent a client holds, read (also within its renewal window) and owned by
    ``subject``'s tenant. Refresh, complete and abort act on it, all of it on storage: whether
    it is still open, its upload, its used-or-not record."""

    intent: Intent
    subject: str

    @property
    def needs_storage(self) -> bool:
        return True


def _owned_intent(service: SignerService, token: str, subject: str) -> Intent:
    intent = service.read_intent(token, renewable=True)
    service.check_tenant(subject, intent.tenant)
    return intent


def plan_refresh(service: SignerService, req: RefreshRequest, subject: str) -> IntentPlan:
    """The token to renew, if its intent is still open (neither completed nor aborted, and a
    multipart upload still there)."""
    return IntentPlan(_owned_intent(service, req.intent_token, subject), subject)


def execute_refresh(service: SignerService, plan: IntentPlan) -> RefreshResponse:
    intent = plan.intent
    _check_unused(service, intent)
    if intent.parts is not None:
        try:
            service.storage.list_parts(intent.object_key, intent.parts.upload_id)
        except UploadGone:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                "storage has no such multipart upload (completed, aborted, or expired)",
                hint="start a new upload",
            ) from None
    profile = service.intent_profile(intent)
    now = service.now()
    assert intent.renew_until is not None  # read_intent(renewable=True) sets it
    return RefreshResponse(
        intent_token=service.issue(intent, profile, now),
        object_key=intent.object_key,
        token_expires_at=_token_expires_at(service, intent, profile, now),
        renew_until=rfc3339_epoch(intent.renew_until),
    )


refresh_intent: UseCase[RefreshRequest, IntentPlan, RefreshResponse] = UseCase(
    plan=plan_refresh,
    execute=execute_refresh,
    audit=Audit("refresh", _requester, lambda plan: intent_facts(plan.intent, plan.subject)),
)


# --- complete ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletePlan(IntentPlan):
    """An intent to complete, with the client's part list if it sent one."""

    parts: tuple[CompletedPart, ...] | None = None


def plan_complete(service: SignerService, req: CompleteRequest, subject: str) -> CompletePlan:
    parts = tuple(req.parts) if req.parts is not None else None
    return CompletePlan(_owned_intent(service, req.intent_token, subject), subject, parts)


def execute_complete(service: SignerService, plan: CompletePlan) -> CompleteResponse:
    intent = plan.intent
    key = intent.object_key
    _check_unused(service, intent)
    if intent.parts is not None:
        _complete_multipart(service, intent, intent.parts, plan.parts)
    elif plan.parts is not None:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "parts are only for multipart uploads",
            hint="complete a single or form upload with just the intent_token",
        )
    else:
        _promote(service, intent)
    stored = _own_object(service, intent)
    _check_stored(service, intent, stored)
    record = {
        "object_key": key,
        "size_bytes": stored.size,
        "completed_at": rfc3339(service.now()),
        "sub": plan.subject,
    }
    if not service.storage.record_intent(intent.id, "completed", record):
        _lost_the_record(service, intent)
    profile = service.intent_profile(intent)
    return CompleteResponse(
        object_key=key,
        size_bytes=stored.size,
        etag=stored.etag,
        content_type=stored.content_type,
        get_url=_get_url(service, intent, profile, service.now()),
    )


def _check_unused(service: SignerService, intent: Intent) -> None:
    state = service.storage.intent_state(intent.id)
    if state is not None:
        raise SignerError(
            ErrorCode.CONFLICT, f"this upload intent was already {state}", hint=_SINGLE_USE
        )


def _lost_the_record(service: SignerService, intent: Intent) -> None:
    """Another call used the intent while this complete ran. If it was an abort, the object
    this complete stored goes too: abort records first, then removes, so whichever of the two
    ran last, no object outlives its abort."""
    state = service.storage.intent_state(intent.id) or "completed"
    if state == "aborted":
        service.storage.remove(intent.object_key)
    raise SignerError(
        ErrorCode.CONFLICT, f"this upload intent was already {state}", hint=_SINGLE_USE
    )


def _promote(service: SignerService, intent: Intent) -> None:
    """Move a single or form upload from its staging key to its object key, if it is what
    the intent allowed (else it is deleted, and the answer says why).

    Nothing staged: nothing was uploaded, or an earlier complete promoted it and stopped
    before writing its record; ``_own_object`` tells which next. The promotion never
    overwrites: when an object already is at the key (this intent's, promoted before, or
    another intent's with a reused key_base, which ``_own_object`` answers with
    ``conflict``), nothing moves. Either way the staged object is of no more use and goes.
    """
    staged = service.storage.stat(staging_key(intent.id))
    if staged is None:
        return
    _check_stored(service, intent, staged)
    copy_headers = {
        name: value
        for name, value in intent.required_headers.items()
        if name.startswith(PER_PART_HEADER)
    }
    # The staged object is encrypted with the same SSE-C key the copy encrypts with.
    copy_headers.update(
        {f"x-amz-copy-source-{name.removeprefix('x-amz-')}": v for name, v in copy_headers.items()}
    )
    try:
        service.storage.promote(staged, intent.object_key, _object_headers(intent), copy_headers)
    except SourceChanged:
        _check_unused(service, intent)  # an abort removed it meanwhile?
        raise SignerError(
            ErrorCode.CONFLICT,
            "the upload changed while it was being completed (it was sent again)",
            hint="complete again once the upload has finished",
        ) from None
    service.storage.remove(staged.key)


def _complete_multipart(
    service: SignerService, intent: Intent, parts: Parts, given: Sequence[CompletedPart] | None
) -> None:
    key = intent.object_key
    try:
        part_list = _part_list(service, key, parts, given)
        # None (412): an object is already at the key: this upload, completed before its
        # record was written (the signer stopped in between), or another intent's (a reused
        # key_base). The intent check that follows tells which.
        service.storage.complete_multipart(key, parts.upload_id, part_list)
    except UploadGone:
        # Completed before, with no record written? Then the checks that follow finish it.
        if service.storage.stat(key) is None:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                "storage has no such multipart upload (aborted, or expired unfinished)",
                hint="start a new upload",
            ) from None


def _part_list(
    service: SignerService, key: str, parts: Parts, given: Sequence[CompletedPart] | None
) -> list[tuple[int, str]]:
    """(number, ETag) of every part: the client's list, checked, or storage's."""
    if given is None:
        stored = service.storage.list_parts(key, parts.upload_id)
        if not stored:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                "no part of this upload is in storage yet",
                hint="upload the parts with the URLs from presign first",
            )
        _check_every_part(parts, [p.part_number for p in stored], "have not been uploaded")
        return [(p.part_number, p.etag) for p in stored]
    numbers = [p.part_number for p in given]
    if not given or numbers != sorted(set(numbers)):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "parts must list each part once, in ascending part_number order",
            hint="send [{part_number, etag}, ...] sorted by part_number, or omit parts",
        )
    if numbers[-1] > parts.part_count:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"part {numbers[-1]} is beyond this upload's {parts.part_count} parts",
            hint="send only the parts the presign planned",
        )
    _check_every_part(parts, numbers, "are missing from parts")
    return [(p.part_number, p.etag) for p in given]


def _check_every_part(parts: Parts, numbers: Sequence[int], missing_means: str) -> None:
    """A multipart upload completes with all its parts or not at all: each part URL signs the
    part's exact length, so all of them make exactly the declared size, and fewer would make
    a smaller object than the intent declared. Refused before completing, so the upload
    stays and the client can send what is missing and complete again."""
    missing = sorted(set(range(1, parts.part_count + 1)) - set(numbers))
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"parts {shown} of this upload's {parts.part_count} {missing_means}: the object "
            "would be smaller than declared",
            hint="upload every part (ask /v1/uploads/parts for URLs), then complete again",
        )


def _own_object(service: SignerService, intent: Intent) -> StoredObject:
    """The object at the intent's key, if this intent uploaded it."""
    key = intent.object_key
    stored = service.storage.stat(key)
    if stored is None:
        raise SignerError(
            ErrorCode.NOT_FOUND,
            f"nothing has been uploaded to {key}",
            hint="upload the file with the URL from presign first, then complete",
        )
    if stored.metadata.get(INTENT_METADATA) != intent.id:
        raise SignerError(
            ErrorCode.CONFLICT,
            f"the object at {key} was not uploaded with this intent",
            hint="another upload already used this key (the same key_base?); request a "
            "new upload intent with another key_base",
        )
    return stored


def _check_stored(service: SignerService, intent: Intent, stored: StoredObject) -> None:
    """The stored object (staged, or at the intent's key) is what the intent allowed;
    otherwise delete it and say why."""
    size, size_max = stored.size, intent.size_max
    # A single PUT and a multipart upload declared their exact size; a form may hold up to
    # size_max.
    declared = intent.size if intent.strategy != "post" else None
    problem: SignerError | None = None
    if size > size_max or (declared is not None and size > declared):
        problem = SignerError(
            ErrorCode.SIZE_TOO_LARGE,
            f"the uploaded object has {size} bytes; this intent allows at most {size_max}",
            hint="the object was deleted; upload the file that was declared",
        )
    elif declared is not None and size != declared:
        problem = SignerError(
            ErrorCode.BAD_REQUEST,
            f"the uploaded object has {size} bytes but {declared} were declared",
            hint="the object was deleted; upload the file that was declared",
        )
    elif stored.content_type != intent.content_type:
        problem = SignerError(
            ErrorCode.MIME_NOT_ALLOWED,
            f"the uploaded object has Content-Type {stored.content_type!r}, "
            f"not the declared {intent.content_type!r}",
            hint="the object was deleted; upload with exactly the signed headers",
        )
    if problem is not None:
        service.storage.remove(stored.key)
        raise problem


complete_upload: UseCase[CompleteRequest, CompletePlan, CompleteResponse] = UseCase(
    plan=plan_complete,
    execute=execute_complete,
    audit=Audit(
        "complete",
        _requester,
        lambda plan: intent_facts(plan.intent, plan.subject),
        lambda answer: {"size_bytes": answer.size_bytes},
    ),
)


# --- abort ------------------------------------------------------------------------------------


def plan_abort(service: SignerService, req: AbortRequest, subject: str) -> IntentPlan:
    return IntentPlan(_owned_intent(service, req.intent_token, subject), subject)


def execute_abort(service: SignerService, plan: IntentPlan) -> AbortResponse:
    intent = plan.intent
    key = intent.object_key
    _check_unused(service, intent)
    if intent.parts is not None:
        _abort_multipart(service, intent, intent.parts)
        _record_abort(service, intent, plan.subject)
    else:
        # Recorded first, then removed: a complete running meanwhile finds the intent
        # aborted when it records, and removes what it promoted (_lost_the_record). The URL
        # still works until it expires, but it only reaches the staging key, which is never
        # downloadable and never promoted now.
        _record_abort(service, intent, plan.subject)
        service.storage.remove(staging_key(intent.id))
        stored = service.storage.stat(key)
        if stored is not None and stored.metadata.get(INTENT_METADATA) == intent.id:
            service.storage.remove(key)
    return AbortResponse(object_key=key, aborted=True)


def _record_abort(service: SignerService, intent: Intent, subject: str) -> None:
    record = {
        "object_key": intent.object_key,
        "aborted_at": rfc3339(service.now()),
        "sub": subject,
    }
    if not service.storage.record_intent(intent.id, "aborted", record):
        raise SignerError(
            ErrorCode.CONFLICT, "this upload intent was already used", hint=_SINGLE_USE
        )


def _abort_multipart(service: SignerService, intent: Intent, parts: Parts) -> None:
    key = intent.object_key
    try:
        # MinIO answers 204 to aborting an unknown upload; listing tells if it exists.
        service.storage.list_parts(key, parts.upload_id)
        service.storage.abort_multipart(key, parts.upload_id)
    except UploadGone:
        stored = service.storage.stat(key)
        if stored is not None and stored.metadata.get(INTENT_METADATA) == intent.id:
            raise SignerError(
                ErrorCode.CONFLICT,
                "this upload was already completed",
                hint="delete the object instead, if that is what you want",
            ) from None
        raise SignerError(
            ErrorCode.NOT_FOUND,
            "storage has no such multipart upload (aborted, or expired unfinished)",
            hint="nothing to abort",
        ) from None


abort_upload: UseCase[AbortRequest, IntentPlan, AbortResponse] = UseCase(
    plan=plan_abort,
    execute=execute_abort,
    audit=Audit("abort", _requester, lambda plan: intent_facts(plan.intent, plan.subject)),
)
