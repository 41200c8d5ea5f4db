"""Uppy through the signer: the routes ``@uppy/aws-s3`` 6.x calls on its ``companionEndpoint``
(Uppy Companion's S3 protocol), with the ``/v1`` policy behind every one of them.

What Uppy calls under its endpoint, read from ``@uppy/aws-s3`` 6.3.1
(``src/s3-client/CompanionS3.ts``), and the use-case that answers it::

    POST   /s3/multipart {filename, type, metadata}         presign_upload   -> {key, uploadId}
    GET    /s3/multipart/{uploadId}/{n}?key=                sign_parts       -> {url}
    GET    /s3/multipart/{uploadId}?key=                    (storage)        -> [{PartNumber, ETag}]
    POST   /s3/multipart/{uploadId}/complete?key= {parts}   complete_upload  -> {location, key}
    DELETE /s3/multipart/{uploadId}?key=                    abort_upload     -> {}
    GET    /s3/params?filename=&type=&metadata[k]=v         refused (below)

The routes only translate shapes: the use-cases of ``signer.uploads`` (the ``/v1`` ones) plan
and carry out every upload, so the MIME allowlist, the size limit, server-made keys, the
Content-Type the object is created with, intent tokens, ``If-None-Match: *`` and single-use
completion are theirs, unchanged.

How the credentials travel. Uppy 6 sends no header of the page's choosing to this endpoint
(``companionHeaders`` is gone) and no cookie across origins, so the *browser token*
(``signer.browser_tokens``) travels in the endpoint's path: the page sets ``companionEndpoint``
to ``<signer URL>/uppy/<browser token>``. Uppy echoes a multipart upload's ``uploadId`` and
``key`` on every later call, so the ``uploadId`` the signer answers *is* the upload's intent
token (storage's upload id is inside it), and ``key`` must be the key it names. So a part URL,
completion and abort are bound to what the signer approved, completion stays single-use, and
an upload belongs to the browser token that started it (the intent's ``sub``). The browser
token's expiry bounds when uploads may start; an upload started in time may finish on its
intent token, as ``/v1`` uploads do.

What Uppy's protocol cannot carry, and what replaces it:

- Uppy's single upload (``/s3/params``) is a POST form after which Uppy never calls back, and
  a form upload becomes an object only when complete checks and moves it; so it is refused,
  and the page sets ``shouldUseMultipart: true``: every file is a multipart upload, one PUT
  for a small one, completed by the signer.
- Uppy declares no size (create sends name, type and meta) and asks for a part URL by number
  only, cutting the parts itself, so no part's Content-Length can be signed. Instead part
  *n* is signed only once parts ``1..n-1`` are in storage holding at most the limit (Uppy
  uploads a file's parts one after another), and complete completes only parts whose ETags
  storage holds, sums them, aborts an upload over the limit, and declares that sum as the
  size the use-case then holds the object to.

Keeping the tokens out of logs: ``UppyGateway`` takes both tokens out of the request's path
before anything else sees it — routing, error messages, the error log and the server's access
log (uvicorn and granian print ``scope["path"]``) read ``/uppy/redacted/s3/multipart/redacted/1``.

CORS: a browser token minted with an ``origin`` answers that origin's preflights and requests
with CORS headers and refuses requests from any other origin; one minted without answers no
CORS header (for pages served from the signer's origin, e.g. behind the app's own proxy).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field, RootModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from signer.auth import ApiTokens
from signer.browser_tokens import (
    UPPY_PREFIX,
    BrowserTokenRequest,
    BrowserTokenResponse,
    claim_upload,
    grant_subject,
    mint_browser_token,
    read_grant,
    size_limit,
)
from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import MAX_PARTS, MIN_PART_SIZE, Profile
from signer.core.sigv4 import uri_encode
from signer.core.tokens import BrowserGrant, Intent, Parts
from signer.metrics import Metrics
from signer.models import (
    AbortRequest,
    CompletedPart,
    CompleteRequest,
    CompleteResponse,
    PartsRequest,
    PresignRequest,
    Request,
    Response,
)
from signer.ratelimit import RateLimiter
from signer.responses import error_response, json_response, validation_error
from signer.routes import ApiRoute, api_handler, measured, read_model
from signer.service import SignerService
from signer.storage import StoredPart, UploadGone
from signer.uploads import abort_upload, complete_upload, plan_sign_parts, presign_upload

T = TypeVar("T")
RequestT = TypeVar("RequestT", bound=Request)

REDACTED = "redacted"
_SSE_C = "x-amz-server-side-encryption-customer-"
_CORS = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "content-type",
    "Access-Control-Max-Age": "600",
}
_JWT_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
E = ErrorCode


# --- Uppy's shapes ------------------------------------------------------------------------------


class UppyCreateRequest(Request):
    """POST /s3/multipart, as Uppy sends it."""

    filename: str = Field(max_length=1024, description="The file's name (never the key).")
    type: str = Field(max_length=255, description="The file's MIME type.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, max_length=100, description="Uppy's file meta; not stored."
    )


class UppyPart(Request):
    PartNumber: int = Field(ge=1, le=MAX_PARTS)
    ETag: str = Field(min_length=1, max_length=128)


class UppyCompleteRequest(Request):
    parts: list[UppyPart] = Field(min_length=1, max_length=MAX_PARTS)


class UppyCreateAnswer(Response):
    key: str
    uploadId: str = Field(description="The upload's intent token: Uppy echoes it back.")


class UppyPartAnswer(Response):
    url: str
    expires: int = Field(description="Seconds the URL is valid for.")
    headers: dict[str, str] = Field(description="Headers to send: none.")


class UppyListedPart(Response):
    PartNumber: int
    ETag: str
    Size: int


class UppyPartList(RootModel[list[UppyListedPart]]):
    pass


class UppyCompleteAnswer(Response):
    location: str = Field(description="The object's URL (storage is private: not a download).")
    key: str
    bucket: str


class UppyAbortAnswer(Response):
    pass


# --- the route table ----------------------------------------------------------------------------


@dataclass
class Call:
    """One request to the Uppy routes, its two tokens taken out of its path."""

    token: str
    shape: tuple[str, ...]  # the path after the token, "{upload_id}" and "{part_number}" kept
    upload_id: str | None = None
    part_number: str | None = None
    allow_origin: str | None = None  # set once the token's origin matched the request's


Handler = Callable[["UppyGateway", HttpRequest, Call], Awaitable[HttpResponse]]


@dataclass(frozen=True)
class UppyRoute:
    """A route of Uppy's protocol: its contract (for /openapi.json) and its handler."""

    name: str  # operationId, and the route label in metrics
    method: str
    shape: tuple[str, ...]
    summary: str
    query: tuple[str, ...]
    request: type[BaseModel] | None
    response: type[BaseModel] | None  # None: it never answers 200
    errors: tuple[ErrorCode, ...]
    handler: Handler


def _max_parts(size_max: int) -> int:
    # Uppy never cuts a part below S3's 5 MiB minimum, nor makes more than 10,000.
    return max(1, min(MAX_PARTS, math.ceil(size_max / MIN_PART_SIZE)))


def _query(request: HttpRequest, limits: Mapping[str, int]) -> dict[str, str]:
    """The query parameters ``limits`` names (name → longest value), each given once;
    BAD_REQUEST for one missing, repeated, too long or unknown."""
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in limits:
            raise SignerError(
                E.BAD_REQUEST,
                f"unknown query parameter {name[:64]!r}",
                hint=f"send only {', '.join(limits)}",
            )
        if name in found:
            raise SignerError(E.BAD_REQUEST, f"query parameter {name!r} is given twice")
        if not value or len(value) > limits[name]:
            raise SignerError(
                E.BAD_REQUEST, f"query parameter {name!r} must have 1 to {limits[name]} characters"
            )
        found[name] = value
    missing = [name for name in limits if name not in found]
    if missing:
        raise SignerError(E.BAD_REQUEST, f"query parameter {missing[0]!r} is required")
    return found


def _build(model: type[RequestT], **fields: Any) -> RequestT:
    """A /v1 request from Uppy's values; BAD_REQUEST (naming the /v1 field) if one is off."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise validation_error(exc, model) from None


def _check_intent(intent: Intent, grant: BrowserGrant, key: str) -> Intent:
    if intent.subject != grant_subject(grant):
        raise SignerError(
            E.SIGNATURE_INVALID,
            "this upload was started with another browser token",
            hint="use the uploadId this browser token's create call answered",
        )
    if intent.object_key != key:
        raise SignerError(
            E.BAD_REQUEST,
            "key is not the key of this upload",
            hint="send the key the create call answered with its uploadId",
        )
    if intent.parts is None:
        raise SignerError(E.BAD_REQUEST, "uploadId does not name a multipart upload")
    return intent


def _stored_parts(service: SignerService, intent: Intent) -> list[StoredPart]:
    assert intent.parts is not None  # _check_intent
    try:
        return service.storage.list_parts(intent.object_key, intent.parts.upload_id)
    except UploadGone:
        raise SignerError(
            E.NOT_FOUND,
            "storage has no such multipart upload (completed, aborted, or expired unfinished)",
            hint="start a new upload",
        ) from None


def _too_large(
    service: SignerService, upload_id: str, subject: str, held: int, limit: int
) -> SignerError:
    """Abort the upload (its parts leave storage, its intent is spent) and say why."""
    abort_upload(service, AbortRequest(intent_token=upload_id), subject)
    return SignerError(
        E.SIZE_TOO_LARGE,
        f"the parts in storage hold {held} bytes; this upload may hold at most {limit}",
        hint="the upload was aborted; upload a smaller file",
    )


def _as_uploaded(intent: Intent, size: int, count: int, part_size: int) -> Intent:
    """The intent as Uppy uploaded it: it declared no size and cut its own parts, so complete
    holds the object to what is in storage — no more than the limit, every part, exactly."""
    assert intent.parts is not None
    parts = Parts(upload_id=intent.parts.upload_id, part_size=part_size, part_count=count)
    return replace(intent, size=size, parts=parts)


# --- handlers -----------------------------------------------------------------------------------


async def params(gw: UppyGateway, request: HttpRequest, call: Call) -> HttpResponse:
    """Uppy's single upload, refused: Uppy 6 posts a form and never calls back, so nothing
    could check and complete it (a form upload lands on a staging key until complete moves it
    to its object key, see ``signer.uploads``). Every file goes up as a multipart upload
    instead — one PUT for a small one — which the signer completes with every check."""
    gw.grant(request, call, starting=True)
    raise SignerError(
        E.BAD_REQUEST,
        "single (form) uploads are not available through Uppy: Uppy never completes them, "
        "so they could not be checked",
        hint="set shouldUseMultipart: true on @uppy/aws-s3; a small file is then one PUT",
    )


async def create_multipart(gw: UppyGateway, request: HttpRequest, call: Call) -> HttpResponse:
    """A multipart upload created on storage (``presign_upload``, multipart forced)."""
    grant = gw.grant(request, call, starting=True)
    body = await read_model(request, UppyCreateRequest)
    profile = gw.profile(grant)
    per_part = sorted(name for name in profile.required_headers if name.lower().startswith(_SSE_C))
    if per_part:
        raise SignerError(
            E.BAD_REQUEST,
            f"profile {profile.name!r} requires {', '.join(per_part)} on every part, "
            "which Uppy cannot send",
            hint="upload with the /v1 routes, or use a profile without SSE-C",
        )
    presign = _build(
        PresignRequest,
        content_type=body.type,
        size_bytes=size_limit(grant, profile),
        filename=body.filename,
        profile=grant.profile,
        multipart="force",
    )
    plan = presign_upload.plan(gw.service, presign, grant_subject(grant))
    answer = await run_in_threadpool(
        gw.start, grant, plan.intent.object_key, lambda: presign_upload.execute(gw.service, plan)
    )
    return json_response(UppyCreateAnswer(key=answer.object_key, uploadId=answer.intent_token))


async def sign_part(gw: UppyGateway, request: HttpRequest, call: Call) -> HttpResponse:
    """One part's PUT URL (``sign_parts``' plan), once the parts before it are in storage."""
    grant = gw.grant(request, call, starting=False)
    key = _query(request, {"key": 1024})["key"]
    subject = grant_subject(grant)
    digits = call.part_number or "0"
    number = int(digits) if len(digits) <= 5 else MAX_PARTS + 1
    ask = _build(PartsRequest, intent_token=call.upload_id, part_numbers=[number])
    # Renewable: the uploadId is the intent token itself, which Uppy cannot renew mid-upload.
    plan = plan_sign_parts(gw.service, ask, subject, renewable=True)
    intent = _check_intent(plan.intent, grant, key)
    if number < 1:
        raise SignerError(E.BAD_REQUEST, "part numbers start at 1")
    # Storage first: an upload already over its limit is aborted, whatever part comes next.
    have = await run_in_threadpool(gw.held_parts, intent, number, call.upload_id or "", subject)
    most = _max_parts(intent.size_max)
    if number > most:
        raise SignerError(
            E.BAD_REQUEST,
            f"part number {number} is outside 1..{most}",
            hint=f"parts are at least 5 MiB and this upload holds at most {intent.size_max} bytes",
        )
    missing = next((n for n in range(1, number) if n not in have), None)
    if missing is not None:
        raise SignerError(
            E.BAD_REQUEST,
            f"part {missing} is not in storage yet, and parts are signed in order",
            hint="upload the parts one after another, as Uppy does",
        )
    # No Content-Length is signed: Uppy cuts the parts, and asks for a URL by number only.
    url = gw.service.sign(
        "PUT",
        key,
        now=plan.now,
        expires=plan.ttl,
        query={"partNumber": str(number), "uploadId": plan.parts.upload_id},
    )
    return json_response(UppyPartAnswer(url=url, expires=plan.ttl, headers={}))


async def list_parts(gw: UppyGateway, request: HttpRequest, call: Call) -> HttpResponse:
    """The parts in storage (Uppy resumes an upload from them)."""
    grant = gw.grant(request, call, starting=False)
    key = _query(request, {"key": 1024})["key"]
    intent = _check_intent(gw.intent(call), grant, key)
    stored = await run_in_threadpool(_stored_parts, gw.service, intent)
    return json_response(
        UppyPartList(
            [UppyListedPart(PartNumber=p.part_number, ETag=p.etag, Size=p.size) for p in stored]
        )
    )


async def complete(gw: UppyGateway, request: HttpRequest, call: Call) -> HttpResponse:
    """Complete the upload (``complete_upload``) after checking its parts in storage."""
    grant = gw.grant(request, call, starting=False)
    key = _query(request, {"key": 1024})["key"]
    body = await read_model(request, UppyCompleteRequest)
    intent = _check_intent(gw.intent(call), grant, key)
    numbers = [part.PartNumber for part in body.parts]
    if numbers != list(range(1, len(numbers) + 1)):
        raise SignerError(
            E.BAD_REQUEST,
            "parts must be parts 1 to N, each once, in order: an upload completes whole",
            hint="send [{PartNumber, ETag}, ...] for every uploaded part, sorted by PartNumber",
        )
    if numbers[-1] > _max_parts(intent.size_max):
        raise SignerError(E.BAD_REQUEST, f"part {numbers[-1]} is beyond this upload's parts")
    done = await run_in_threadpool(
        gw.complete, intent, call.upload_id or "", body.parts, grant_subject(grant)
    )
    s = gw.service.settings
    location = (
        f"{s.public_endpoint}/{uri_encode(s.bucket)}/{uri_encode(done.object_key, keep_slash=True)}"
    )
    return json_response(
        UppyCompleteAnswer(location=location, key=done.object_key, bucket=s.bucket)
    )


async def abort(gw: UppyGateway, request: HttpRequest, call: Call) -> HttpResponse:
    """Abort the upload (``abort_upload``): its parts leave storage, its intent is spent."""
    grant = gw.grant(request, call, starting=False)
    key = _query(request, {"key": 1024})["key"]
    _check_intent(gw.intent(call), grant, key)
    ask = AbortRequest(intent_token=call.upload_id or "")
    await run_in_threadpool(abort_upload, gw.service, ask, grant_subject(grant))
    return json_response(UppyAbortAnswer())


_COMMON = (E.UNAUTHORIZED, E.BAD_REQUEST, E.NOT_FOUND, E.RATE_LIMITED)
_UPLOAD = ("s3", "multipart", "{upload_id}")
ROUTES: tuple[UppyRoute, ...] = (
    UppyRoute(
        "uppy_params",
        "GET",
        ("s3", "params"),
        "Uppy: a single (form) upload: refused, see shouldUseMultipart: true",
        ("filename", "type", "metadata"),
        None,
        None,
        _COMMON,
        params,
    ),
    UppyRoute(
        "uppy_create_multipart",
        "POST",
        ("s3", "multipart"),
        "Uppy: create a multipart upload; its uploadId is the upload's intent token",
        (),
        UppyCreateRequest,
        UppyCreateAnswer,
        (*_COMMON, E.MIME_NOT_ALLOWED, E.CONFLICT, E.STORAGE_DENIED),
        create_multipart,
    ),
    UppyRoute(
        "uppy_sign_part",
        "GET",
        (*_UPLOAD, "{part_number}"),
        "Uppy: a part's PUT URL, once the parts before it are in storage",
        ("key",),
        None,
        UppyPartAnswer,
        (*_COMMON, E.SIGNATURE_INVALID, E.SIZE_TOO_LARGE, E.CONFLICT, E.STORAGE_DENIED),
        sign_part,
    ),
    UppyRoute(
        "uppy_list_parts",
        "GET",
        _UPLOAD,
        "Uppy: the parts in storage, to resume an upload",
        ("key",),
        None,
        UppyPartList,
        (*_COMMON, E.SIGNATURE_INVALID, E.STORAGE_DENIED),
        list_parts,
    ),
    UppyRoute(
        "uppy_complete",
        "POST",
        (*_UPLOAD, "complete"),
        "Uppy: complete a multipart upload, checked against its intent; single-use",
        ("key",),
        UppyCompleteRequest,
        UppyCompleteAnswer,
        (
            *_COMMON,
            E.SIGNATURE_INVALID,
            E.CONFLICT,
            E.MIME_NOT_ALLOWED,
            E.SIZE_TOO_LARGE,
            E.STORAGE_DENIED,
        ),
        complete,
    ),
    UppyRoute(
        "uppy_abort",
        "DELETE",
        _UPLOAD,
        "Uppy: abort a multipart upload and retire its intent",
        ("key",),
        None,
        UppyAbortAnswer,
        (*_COMMON, E.SIGNATURE_INVALID, E.CONFLICT, E.STORAGE_DENIED),
        abort,
    ),
)
# shape -> method -> route: how the gateway finds a request's route.
_BY_SHAPE = {
    shape: {route.method: route for route in ROUTES if route.shape == shape}
    for shape in {route.shape for route in ROUTES}
}

MINT = ApiRoute(
    "/v1/browser-tokens",
    "mint_browser_token",
    "Mint a short-lived browser upload token (works only on the Uppy routes)",
    BrowserTokenRequest,
    BrowserTokenResponse,
    use_case=mint_browser_token,
    errors=(E.UNAUTHORIZED, E.BAD_REQUEST, E.RATE_LIMITED, E.SIZE_TOO_LARGE),
)
BROWSER_API: tuple[ApiRoute[Any, Any, Any], ...] = (MINT,)
UPPY_REQUESTS: tuple[type[BaseModel], ...] = (UppyCreateRequest, UppyCompleteRequest)
UPPY_RESPONSES: tuple[type[BaseModel], ...] = tuple(r.response for r in ROUTES if r.response)


# --- the gateway --------------------------------------------------------------------------------


def take_secrets(scope: Scope) -> Call | None:
    """Read the tokens out of the request's path and put placeholders in their place, so
    nothing after this (routing, messages, logs, the access log) ever sees them. None when
    the path is no route of Uppy's protocol."""
    root = scope.get("root_path", "")
    path: str = scope["path"]
    rest = path[len(root) :] if root and path.startswith(root) else path
    segments = rest.split("/")[1:]  # "/<token>/s3/..." → ["<token>", "s3", ...]
    hidden = list(segments)
    call = None
    if segments and segments[0]:
        hidden[0] = REDACTED
        call = Call(token=segments[0], shape=tuple(segments[1:]))
        if segments[1:3] == ["s3", "multipart"] and len(segments) > 3:
            hidden[3] = REDACTED
            call.upload_id = segments[3]
            call.shape = (*_UPLOAD, *segments[4:])
            if len(segments) == 5 and segments[4] != "complete":
                call.part_number = segments[4]
                call.shape = (*_UPLOAD, "{part_number}")
        if call.part_number is not None and not call.part_number.isdigit():
            call = None
    redacted = root + "/" + "/".join(hidden)
    scope["path"] = redacted
    scope["raw_path"] = redacted.encode("utf-8", "surrogateescape")
    return call


class UppyGateway:
    """The ASGI app mounted at /uppy: takes the tokens out of the path, routes by Uppy's
    protocol, answers CORS for the token's origin, and counts each request in /metrics."""

    def __init__(
        self, service: SignerService, limiter: RateLimiter | None, metrics: Metrics
    ) -> None:
        self.service = service
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a Mount also passes websockets: there are none here
            await send({"type": "websocket.close", "code": 1000})
            return
        call = take_secrets(scope)
        request = HttpRequest(scope, receive)
        try:
            response = await self._answer(request, call)
        except SignerError as exc:
            self.metrics.observe("unmatched", exc.code.value, 0.0)
            response = error_response(exc)
        # Anything else (a body too slow, a client gone, a bug) is the app's handlers' to
        # answer; they see only the redacted path.
        if call is not None and call.allow_origin is not None:
            response.headers.update(
                {"Access-Control-Allow-Origin": call.allow_origin, "Vary": "Origin"}
            )
        await response(scope, receive, send)

    async def _answer(self, request: HttpRequest, call: Call | None) -> HttpResponse:
        where = f"{request.method} {request.url.path}"
        routes = _BY_SHAPE.get(call.shape) if call is not None else None
        if call is None or routes is None:
            raise SignerError(
                E.NOT_FOUND, f"no route {where}", hint="GET /openapi.json lists the routes"
            )
        if request.method == "OPTIONS":
            return self._preflight(request, call)
        route = routes.get(request.method)
        if route is None:
            allowed = ", ".join(sorted(routes))
            error = SignerError(
                E.BAD_REQUEST, f"method {where} is not allowed", hint=f"use {allowed}"
            )
            self.metrics.observe("unmatched", error.code.value, 0.0)
            return error_response(error, status=405, headers={"Allow": allowed})

        async def handle(request: HttpRequest) -> HttpResponse:
            return await route.handler(self, request, call)

        return await measured(self.metrics, route.name, handle)(request)

    def _preflight(self, request: HttpRequest, call: Call) -> HttpResponse:
        """A CORS preflight: allowed for the origin the (genuine) token names, only."""
        if "access-control-request-method" not in request.headers:
            raise SignerError(E.BAD_REQUEST, "OPTIONS is only for CORS preflights")
        grant = read_grant(self.service, call.token, allow_expired=True)
        origin = request.headers.get("origin")
        if grant.origin is None or origin != grant.origin:
            raise SignerError(
                E.UNAUTHORIZED,
                f"this browser token is not for pages at {(origin or '')[:255]!r}",
                hint="mint the browser token with origin set to the page's origin",
            )
        call.allow_origin = origin
        return HttpResponse(status_code=204, headers={**_CORS, "Cache-Control": "no-store"})

    # --- steps the handlers share -------------------------------------------------------------

    def grant(self, request: HttpRequest, call: Call, *, starting: bool) -> BrowserGrant:
        """The browser token's grant, after its origin and (to start an upload) its expiry."""
        grant = read_grant(self.service, call.token, allow_expired=True)
        origin = request.headers.get("origin")
        if origin is not None and grant.origin is not None:
            if origin != grant.origin:
                raise SignerError(
                    E.UNAUTHORIZED,
                    f"this browser token is for pages at {grant.origin}, not {origin[:255]!r}",
                    hint="mint the browser token with origin set to the page's origin",
                )
            call.allow_origin = origin  # from here on, the page may read the answer
        if starting and grant.expired(self.service.clock()):
            when = datetime.fromtimestamp(grant.expires_at or 0, UTC).isoformat()
            raise SignerError(
                E.UNAUTHORIZED,
                f"browser token rejected: expired at {when}",
                hint="ask your backend for a new browser token (POST /v1/browser-tokens); "
                "uploads it started in time may still finish",
            )
        if self.limiter is not None:
            # Per minting API token: bounded, and apart from the backend's own /v1 requests.
            self.limiter.check(f"browser-{grant.subject}")
        return grant

    def intent(self, call: Call) -> Intent:
        """The upload's intent, from Uppy's uploadId: also once its token expired, within the
        intent's window (which still ends the upload), since Uppy cannot renew the token it
        holds."""
        return self.service.read_intent(call.upload_id or "", renewable=True)

    def profile(self, grant: BrowserGrant) -> Profile:
        return self.service.settings.policy.profile(grant.profile)

    def start(self, grant: BrowserGrant, object_key: str, execute: Callable[[], T]) -> T:
        """Claim one of the grant's uploads, then carry out the plan (thread pool)."""
        claim_upload(self.service, grant, object_key)
        return execute()

    def held_parts(self, intent: Intent, number: int, upload_id: str, subject: str) -> set[int]:
        """The numbers of the parts in storage, once every part there but ``number`` (which
        is about to be sent again) holds at most the limit; an upload over it is aborted.
        Signing part n only after parts 1..n-1 (the caller) caps what a page can park in
        storage at the limit plus one part, although no part's length is signed."""
        stored = _stored_parts(self.service, intent)
        held = sum(part.size for part in stored if part.part_number != number)
        if held > intent.size_max:
            raise _too_large(self.service, upload_id, subject, held, intent.size_max)
        return {part.part_number for part in stored}

    def complete(
        self, intent: Intent, upload_id: str, given: list[UppyPart], subject: str
    ) -> CompleteResponse:
        """Check the client's parts against storage's, hold their sum to the limit, declare
        the size and parts the upload turned out to have, then let ``complete_upload``
        complete, check and record it (thread pool)."""
        assert intent.parts is not None  # _check_intent
        storage = self.service.storage
        try:
            stored = storage.list_parts(intent.object_key, intent.parts.upload_id)
        except UploadGone:  # completed before (a retry), or aborted: the use-case tells which
            found = storage.stat(intent.object_key)
            size = found.size if found is not None else intent.size_max
            intent = _as_uploaded(intent, size, len(given), size)
        else:
            by_number = {part.part_number: part for part in stored}
            for part in given:
                held = by_number.get(part.PartNumber)
                if held is None or held.etag != part.ETag.strip('"'):
                    raise SignerError(
                        E.BAD_REQUEST,
                        f"part {part.PartNumber} is not in storage with ETag {part.ETag[:64]!r}",
                        hint="send the ETag storage answered for each uploaded part",
                    )
            total = sum(by_number[part.PartNumber].size for part in given)
            if total > intent.size_max:
                raise _too_large(self.service, upload_id, subject, total, intent.size_max)
            first = by_number[given[0].PartNumber].size
            intent = _as_uploaded(intent, total, len(given), first)
        service = self.service
        token = service.issue(intent, service.intent_profile(intent), service.now())
        parts = [CompletedPart(part_number=p.PartNumber, etag=p.ETag) for p in given]
        return complete_upload(service, CompleteRequest(intent_token=token, parts=parts), subject)


def uppy_routes(
    service: SignerService, tokens: ApiTokens, limiter: RateLimiter | None, metrics: Metrics
) -> list[BaseRoute]:
    """POST /v1/browser-tokens (API token) and Uppy's protocol under /uppy/<browser token>."""
    mint = api_handler(MINT, service, tokens, limiter)
    return [
        Route(MINT.path, measured(metrics, MINT.name, mint), methods=["POST"], name=MINT.name),
        Mount(UPPY_PREFIX, app=UppyGateway(service, limiter, metrics), name="uppy"),
    ]


# --- /openapi.json --------------------------------------------------------------------------------


def _parameter(name: str, where: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": True, "schema": schema, **extra}


_PARAMETERS: dict[str, dict[str, Any]] = {
    "browser_token": _parameter(
        "browser_token",
        "path",
        {"type": "string", "pattern": _JWT_PATTERN, "maxLength": 16384},
        description="A browser token (POST /v1/browser-tokens).",
    ),
    "upload_id": _parameter(
        "upload_id",
        "path",
        {"type": "string", "pattern": _JWT_PATTERN, "maxLength": 16384},
        description="The uploadId the create call answered.",
    ),
    "part_number": _parameter(
        "part_number", "path", {"type": "integer", "minimum": 1, "maximum": MAX_PARTS}
    ),
    "key": _parameter("key", "query", {"type": "string", "minLength": 1, "maxLength": 1024}),
    "filename": _parameter(
        "filename", "query", {"type": "string", "minLength": 1, "maxLength": 1024}
    ),
    "type": _parameter("type", "query", {"type": "string", "minLength": 1, "maxLength": 255}),
    "metadata": {
        "name": "metadata",
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "description": "Uppy's file meta; not stored.",
    },
}


def uppy_path_of(route: UppyRoute) -> str:
    return "/".join((UPPY_PREFIX, "{browser_token}", *route.shape))


def uppy_paths(
    error_responses: Callable[[Iterable[ErrorCode]], dict[str, Any]], ref: str
) -> dict[str, Any]:
    """The Uppy routes' part of /openapi.json (``ref``: the schema reference template)."""
    paths: dict[str, Any] = {}
    for route in ROUTES:
        path = uppy_path_of(route)
        names = [n.strip("{}") for n in (path.split("/")) if n.startswith("{")]
        ok: dict[str, Any] = {}
        if route.response is not None:
            schema = {"$ref": ref.format(model=route.response.__name__)}
            ok["200"] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        operation: dict[str, Any] = {
            "operationId": route.name,
            "summary": route.summary,
            "parameters": [_PARAMETERS[name] for name in (*names, *route.query)],
            "responses": {**ok, **error_responses(route.errors)},
        }
        if route.request is not None:
            schema = {"$ref": ref.format(model=route.request.__name__)}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        paths.setdefault(path, {})[route.method.lower()] = operation
    return paths
