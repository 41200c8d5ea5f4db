"""Request and response bodies of the HTTP API, as pydantic models.

Requests are strict (JSON types exactly, no coercion of ``"5"`` to ``5``) and closed (an
unknown field is an error, so a misspelt ``mulitpart`` cannot be silently ignored). The same
models produce the schemas in ``/openapi.json``, so the published contract is the checked one.
Field bounds here are about shape; policy (types, sizes, TTLs) is decided in ``signer.core``.

The upload requests speak both the kit's names and those of the "Mediaflow — Presigned
Uploads v1" spec (``mime`` for ``content_type``; ``bucket``, ``kind``, ``shard``; the per-part
route's ``uploadId``/``partNumber``), so a client written to either succeeds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from signer.core.errors import ErrorCode
from signer.core.policy import MAX_PARTS
from signer.core.tokens import Endpoint

# Bounds of one call: a presign answers with this many part URLs at most, /v1/uploads/parts
# signs at most MAX_PARTS_PER_CALL per request (clients fetch the rest lazily, in batches, so
# late parts get fresh URLs).
INITIAL_PARTS = 16
MAX_PARTS_PER_CALL = 100
MAX_TOKEN_CHARS = 16 * 1024
# Who the backend says an upload is for (the intent's sub): an id, an email, "user:42".
ACTOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$"
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# The catch-all's code: only ever a bug in the signer, never an answer to client input.
INTERNAL_CODE = "internal"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- requests ---------------------------------------------------------------------------------


class UploadFields(Request):
    """What every upload request may say: the type (``content_type``, or the spec's ``mime``),
    the profile, the key's parts, and who and where it is for."""

    content_type: str | None = Field(
        None,
        max_length=255,
        description="The Content-Type the client will send, e.g. image/png. Required, as "
        "content_type or mime (equal when both are sent).",
    )
    mime: str | None = Field(None, max_length=255, description="The spec's name for content_type.")
    filename: str | None = Field(
        None,
        max_length=1024,
        description="The original name; never part of the key, only of download names.",
    )
    profile: str | None = Field(None, max_length=64, description="Upload profile (policy).")
    key_base: str | None = Field(
        None,
        max_length=128,
        description="The backend's id (ULID/KSUID/UUID) for {key_base}; refused by a profile "
        "whose key_template has no {key_base}. Default: a new ULID.",
    )
    ext: str | None = Field(
        None, max_length=17, description="Extension; must match the one the profile maps."
    )
    bucket: str | None = Field(
        None, max_length=63, description="Must be the signer's bucket, if sent (the spec's field)."
    )
    kind: str | None = Field(
        None,
        max_length=32,
        description="image, video, ... : the type must be of this kind (mime_not_allowed).",
    )
    shard: str | None = Field(
        None,
        max_length=2,
        description="sha1(key_base)[0:2] in hex, if sent; the profile's key must be sharded.",
    )
    actor: str | None = Field(
        None,
        pattern=ACTOR_PATTERN,
        description="Whom the backend asks for (a user id): the intent token's sub and the "
        "audit log's actor. Default: the API token's fingerprint.",
    )
    tenant: str | None = Field(
        None,
        pattern=TENANT_PATTERN,
        description="Fills the key's {tenant}; required by profiles that use it, limited per "
        "API token by the policy file's tenants.",
    )
    endpoint: Endpoint = Field(
        "public",
        description="Whose network the URLs are for: public (SIGNER_PUBLIC_ENDPOINT) or "
        "internal (SIGNER_INTERNAL_ENDPOINT, for services inside).",
    )


class PresignRequest(UploadFields):
    """Ask to upload one object with a presigned PUT (or a multipart upload)."""

    # No upper bound here: a size above the profile's size_max is the policy's answer
    # (size_too_large), whatever its value, not a malformed request.
    size_bytes: int = Field(ge=0, description="The file's exact size.")
    multipart: Literal["auto", "force", "off"] = Field(
        "auto", description="auto: multipart from the profile's threshold on."
    )
    checksum_sha256: str | None = Field(
        None,
        max_length=64,
        description="SHA-256 of the body, base64 (44 chars) or hex (64 chars); signed as "
        "x-amz-checksum-sha256 (base64), so storage verifies it. Single PUT only.",
    )


class PresignPostRequest(UploadFields):
    """Ask for a browser form upload (POST policy): storage enforces size and type."""

    size_bytes: int | None = Field(
        None,
        ge=0,
        description="Declared size; the policy then allows at most this many bytes "
        "(else the profile's size_max).",
    )


class PartsRequest(Request):
    """Sign more part URLs of a multipart upload."""

    intent_token: str = Field(max_length=MAX_TOKEN_CHARS)
    part_numbers: list[int] = Field(
        min_length=1, max_length=MAX_PARTS_PER_CALL, description="1-based part numbers."
    )


class PartPresignRequest(Request):
    """The spec's per-part route (5.2): one part's URL, by the spec's field names."""

    intent_token: str = Field(max_length=MAX_TOKEN_CHARS)
    uploadId: str = Field(
        min_length=1, max_length=1024, description="The upload's id: upload.upload_id."
    )
    partNumber: int = Field(ge=1, le=MAX_PARTS)


class RefreshRequest(Request):
    """Renew an intent token (same intent, new expiry) within the intent's window."""

    intent_token: str = Field(max_length=MAX_TOKEN_CHARS)


class CompletedPart(Request):
    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=128)


class CompleteRequest(Request):
    """Finish an upload: complete the multipart upload, then check the stored object."""

    intent_token: str = Field(max_length=MAX_TOKEN_CHARS)
    parts: list[CompletedPart] | None = Field(
        None,
        max_length=MAX_PARTS,
        description="Multipart only: each part's ETag. Omit to let the signer list the parts.",
    )


class AbortRequest(Request):
    intent_token: str = Field(max_length=MAX_TOKEN_CHARS)


class DownloadRequest(Request):
    """Ask for a presigned GET of an existing object."""

    object_key: str = Field(min_length=1, max_length=1024)
    ttl_seconds: int | None = Field(
        None, ge=1, description="Clamped to the profile's ttl_max and 7 days."
    )
    filename: str | None = Field(
        None, max_length=1024, description="Name for the saved file (RFC 6266 encoded)."
    )
    disposition: Literal["inline", "attachment"] = "attachment"
    response_content_type: str | None = Field(
        None,
        max_length=255,
        description="Override the Content-Type; must be allowed by the profile.",
    )
    endpoint: Endpoint = Field("public", description="public or internal (see presign).")
    actor: str | None = Field(
        None, pattern=ACTOR_PATTERN, description="Whom the backend asks for (audit log)."
    )


# --- responses --------------------------------------------------------------------------------


class SingleUpload(Response):
    method: Literal["PUT"] = "PUT"
    url: str = Field(
        description="Where the bytes go: a staging key of the intent's own; complete moves "
        "them to object_key."
    )
    headers: dict[str, str] = Field(description="Send exactly these headers: they are signed.")


class PartUrl(Response):
    part_number: int
    url: str
    headers: dict[str, str]


class SignerCall(Response):
    """A call to the signer, in the shape of the spec's upload descriptors: the path (on the
    signer's own base URL, with the caller's Authorization) and the JSON body to send."""

    method: Literal["POST"] = "POST"
    url: str
    headers: dict[str, str]
    body: dict[str, str | int]


class MultipartUpload(Response):
    upload_id: str
    part_size: int
    part_count: int
    parts: list[PartUrl] = Field(description="The first parts; ask /v1/uploads/parts for more.")
    # The spec's descriptors. No `create`: the signer created the upload already, with the
    # headers it chose (type, SSE, intent id), which a client-sent create could not be held to.
    part: SignerCall | None = Field(
        default=None,
        description="The per-part route: add partNumber (1..part_count) to the body; answers "
        "{url, headers}.",
    )
    complete: SignerCall | None = None
    abort: SignerCall | None = None


class PostUpload(Response):
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str] = Field(
        description="Form fields, before the file field (last). Their key is a staging key of "
        "the intent's own; complete moves the upload to object_key."
    )


class PresignResponse(Response):
    object_key: str
    key_base: str | None = Field(
        None, description="What {key_base} was; absent when the profile's keys have none."
    )
    shard: str | None = Field(None, description="The key's shard, when it has one.")
    bucket: str
    mime: str = Field(description="The Content-Type signed into the upload.")
    strategy: Literal["single", "multipart"]
    expires_at: str = Field(description="When the upload URLs expire (RFC 3339, UTC).")
    intent_token: str
    token_expires_at: str = Field(
        description="When the intent token expires; POST /v1/uploads/refresh renews it."
    )
    upload: SingleUpload | MultipartUpload
    get_url: str = Field(description="Presigned GET of the object, valid once complete accepts it.")


class PresignPostResponse(Response):
    object_key: str
    key_base: str | None = None
    shard: str | None = None
    bucket: str
    mime: str
    strategy: Literal["post"] = "post"
    expires_at: str
    intent_token: str
    token_expires_at: str
    upload: PostUpload
    get_url: str


class PartsResponse(Response):
    parts: list[PartUrl]
    expires_at: str


class PartPresignResponse(Response):
    """The spec's per-part answer ({url, headers}), with the part's number and expiry."""

    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str] = Field(description="Send exactly these headers: they are signed.")
    part_number: int
    expires_at: str


class RefreshResponse(Response):
    intent_token: str
    object_key: str
    token_expires_at: str
    renew_until: str = Field(
        description="The end of the intent's window: no renewal, complete or abort after it."
    )


class CompleteResponse(Response):
    object_key: str
    size_bytes: int
    etag: str = Field(
        description="The stored object's ETag. Every upload is stored by a multipart "
        "completion, so it has the multipart form (<hex>-<parts>)."
    )
    content_type: str
    get_url: str


class AbortResponse(Response):
    object_key: str
    aborted: bool


class DownloadResponse(Response):
    url: str
    expires_at: str


class HealthResponse(Response):
    status: Literal["ok"] = "ok"


class ReadyResponse(Response):
    status: Literal["ready"] = "ready"
    bucket: str


class ErrorBody(Response):
    """Every error the signer answers, on every route."""

    # The Literal is built from ErrorCode at run time, so /openapi.json's enum cannot drift from
    # the codes; mypy cannot evaluate a computed Literal, hence the one ignore.
    code: Literal[(*(code.value for code in ErrorCode), INTERNAL_CODE)]  # type: ignore[valid-type]
    message: str
    hint: str | None = None
    retry_after_seconds: int | None = None
