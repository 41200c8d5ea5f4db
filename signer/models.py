"""Request and response bodies of the HTTP API, as pydantic models.

Requests are strict (JSON types exactly, no coercion of ``"5"`` to ``5``) and closed (an
unknown field is an error, so a misspelt ``mulitpart`` cannot be silently ignored). The same
models produce the schemas in ``/openapi.json``, so the published contract is the checked one.
Field bounds here are about shape; policy (types, sizes, TTLs) is decided in ``signer.core``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from signer.core.errors import ErrorCode
from signer.core.policy import MAX_PARTS

# Bounds of one call: a presign answers with this many part URLs at most, /v1/uploads/parts
# signs at most MAX_PARTS_PER_CALL per request (clients fetch the rest lazily, in batches, so
# late parts get fresh URLs).
INITIAL_PARTS = 16
MAX_PARTS_PER_CALL = 100
MAX_TOKEN_CHARS = 16 * 1024
# The catch-all's code: only ever a bug in the signer, never an answer to client input.
INTERNAL_CODE = "internal"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Response(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- requests ---------------------------------------------------------------------------------


class PresignRequest(Request):
    """Ask to upload one object with a presigned PUT (or a multipart upload)."""

    content_type: str = Field(
        max_length=255, description="The Content-Type the client will send, e.g. image/png."
    )
    # No upper bound here: a size above the profile's size_max is the policy's answer
    # (size_too_large), whatever its value, not a malformed request.
    size_bytes: int = Field(ge=0, description="The file's exact size.")
    filename: str | None = Field(
        None,
        max_length=1024,
        description="The original name; never part of the key, only of download names.",
    )
    profile: str | None = Field(None, max_length=64, description="Upload profile (policy).")
    key_base: str | None = Field(
        None, max_length=128, description="Client-chosen id (ULID/UUID) for {key_base}."
    )
    ext: str | None = Field(
        None, max_length=17, description="Extension; must match the one the profile maps."
    )
    multipart: Literal["auto", "force", "off"] = Field(
        "auto", description="auto: multipart from the profile's threshold on."
    )
    checksum_sha256: str | None = Field(
        None,
        max_length=64,
        description="SHA-256 of the body, base64 (44 chars) or hex (64 chars); signed as "
        "x-amz-checksum-sha256 (base64), so storage verifies it. Single PUT only.",
    )


class PresignPostRequest(Request):
    """Ask for a browser form upload (POST policy): storage enforces size and type."""

    content_type: str = Field(max_length=255)
    size_bytes: int | None = Field(
        None,
        ge=0,
        description="Declared size; the policy then allows at most this many bytes "
        "(else the profile's size_max).",
    )
    filename: str | None = Field(None, max_length=1024)
    profile: str | None = Field(None, max_length=64)
    key_base: str | None = Field(None, max_length=128)
    ext: str | None = Field(None, max_length=17)


class PartsRequest(Request):
    """Sign more part URLs of a multipart upload."""

    intent_token: str = Field(max_length=MAX_TOKEN_CHARS)
    part_numbers: list[int] = Field(
        min_length=1, max_length=MAX_PARTS_PER_CALL, description="1-based part numbers."
    )


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


class MultipartUpload(Response):
    upload_id: str
    part_size: int
    part_count: int
    parts: list[PartUrl] = Field(description="The first parts; ask /v1/uploads/parts for more.")


class PostUpload(Response):
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str] = Field(
        description="Form fields, before the file field (last). Their key is a staging key of "
        "the intent's own; complete moves the upload to object_key."
    )


class PresignResponse(Response):
    object_key: str
    key_base: str
    strategy: Literal["single", "multipart"]
    expires_at: str = Field(description="When the upload URLs expire (RFC 3339, UTC).")
    intent_token: str
    upload: SingleUpload | MultipartUpload
    get_url: str = Field(description="Presigned GET of the object, valid once complete accepts it.")


class PresignPostResponse(Response):
    object_key: str
    key_base: str
    strategy: Literal["post"] = "post"
    expires_at: str
    intent_token: str
    upload: PostUpload
    get_url: str


class PartsResponse(Response):
    parts: list[PartUrl]
    expires_at: str


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
