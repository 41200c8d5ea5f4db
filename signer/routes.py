"""The HTTP API's routes: one table (``API``) that both the app and ``/openapi.json`` read.

Each ``ApiRoute`` holds its use-case itself (``use_case=presign_upload``), so the table reads
from URL to code. Every ``/v1`` route runs the same steps: authenticate the bearer token, take
one request from its rate-limit bucket, read a bounded JSON body into the route's request
model, make the use-case's plan (on the event loop: no I/O), then carry it out — in the thread
pool when the plan needs storage (which blocks), inline when it only signs (a single-PUT or
form presign, part URLs: tens of microseconds of CPU, less than the hop to a thread and back);
see ``signer.usecase``. Errors at any step answer the one error shape, and every request is
counted by route and outcome code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from signer.auth import ApiTokens
from signer.core.errors import ErrorCode, SignerError
from signer.downloads import presign_download
from signer.metrics import BODY_TIMEOUT, CLIENT_CLOSED, OK, Metrics
from signer.models import (
    INTERNAL_CODE,
    AbortRequest,
    AbortResponse,
    CompleteRequest,
    CompleteResponse,
    DownloadRequest,
    DownloadResponse,
    PartPresignRequest,
    PartPresignResponse,
    PartsRequest,
    PartsResponse,
    PresignPostRequest,
    PresignPostResponse,
    PresignRequest,
    PresignResponse,
    RefreshRequest,
    RefreshResponse,
)
from signer.ratelimit import RateLimiter
from signer.responses import (
    BodyTimeout,
    body_timeout_response,
    client_closed_response,
    error_response,
    json_response,
    validation_error,
)
from signer.service import SignerService
from signer.uploads import (
    abort_upload,
    complete_upload,
    presign_part,
    presign_post,
    presign_upload,
    refresh_intent,
    sign_parts,
)
from signer.usecase import PlanT, RequestT, ResponseT, UseCase

log = logging.getLogger("signer")

# Large enough for a complete with 10,000 parts listed; anything bigger is not a real request.
MAX_BODY_BYTES = 1024 * 1024
E = ErrorCode
_COMMON = (E.UNAUTHORIZED, E.BAD_REQUEST, E.RATE_LIMITED)


@dataclass(frozen=True)
class ApiRoute(Generic[RequestT, PlanT, ResponseT]):
    """A POST route: its contract (path, operationId, models, error codes) and its use-case.
    The type parameters tie the models to the use-case's, so the table cannot pair a route
    with a use-case that reads another request or answers another response."""

    path: str
    name: str  # operationId, and the route label in metrics
    summary: str
    request: type[RequestT]
    response: type[ResponseT]
    use_case: UseCase[RequestT, PlanT, ResponseT]
    errors: tuple[ErrorCode, ...]


API: tuple[ApiRoute[Any, Any, Any], ...] = (
    ApiRoute(
        "/v1/uploads/presign",
        "presign_upload",
        "Presign an upload: one PUT, or a multipart upload created on storage",
        PresignRequest,
        PresignResponse,
        use_case=presign_upload,
        errors=(*_COMMON, E.MIME_NOT_ALLOWED, E.SIZE_TOO_LARGE, E.STORAGE_DENIED),
    ),
    ApiRoute(
        "/v1/uploads/presign-post",
        "presign_post",
        "Presign a browser form upload (POST policy; storage enforces size and type)",
        PresignPostRequest,
        PresignPostResponse,
        use_case=presign_post,
        errors=(*_COMMON, E.MIME_NOT_ALLOWED, E.SIZE_TOO_LARGE),
    ),
    ApiRoute(
        "/v1/uploads/parts",
        "sign_parts",
        "Sign more part URLs of a multipart upload",
        PartsRequest,
        PartsResponse,
        use_case=sign_parts,
        errors=(*_COMMON, E.SIGNATURE_INVALID),
    ),
    ApiRoute(
        "/v1/uploads/presign/part",
        "presign_part",
        "Sign one part URL (the spec's per-part route: intent_token, uploadId, partNumber)",
        PartPresignRequest,
        PartPresignResponse,
        use_case=presign_part,
        errors=(*_COMMON, E.SIGNATURE_INVALID),
    ),
    ApiRoute(
        "/v1/uploads/refresh",
        "refresh_intent",
        "Renew an intent token within its upload window (short-lived tokens, long uploads)",
        RefreshRequest,
        RefreshResponse,
        use_case=refresh_intent,
        errors=(*_COMMON, E.SIGNATURE_INVALID, E.NOT_FOUND, E.CONFLICT, E.STORAGE_DENIED),
    ),
    ApiRoute(
        "/v1/uploads/complete",
        "complete_upload",
        "Complete an upload and check the stored object against the intent",
        CompleteRequest,
        CompleteResponse,
        use_case=complete_upload,
        errors=(
            *_COMMON,
            E.SIGNATURE_INVALID,
            E.NOT_FOUND,
            E.CONFLICT,
            E.MIME_NOT_ALLOWED,
            E.SIZE_TOO_LARGE,
            E.STORAGE_DENIED,
        ),
    ),
    ApiRoute(
        "/v1/uploads/abort",
        "abort_upload",
        "Abort an upload (multipart: on storage) and retire its intent",
        AbortRequest,
        AbortResponse,
        use_case=abort_upload,
        errors=(*_COMMON, E.SIGNATURE_INVALID, E.NOT_FOUND, E.CONFLICT, E.STORAGE_DENIED),
    ),
    ApiRoute(
        "/v1/downloads/presign",
        "presign_download",
        "Presign a download of an existing object",
        DownloadRequest,
        DownloadResponse,
        use_case=presign_download,
        errors=(*_COMMON, E.MIME_NOT_ALLOWED, E.NOT_FOUND, E.STORAGE_DENIED),
    ),
)


def _too_big() -> SignerError:
    return SignerError(
        ErrorCode.BAD_REQUEST,
        f"the request body is larger than {MAX_BODY_BYTES} bytes",
        hint="send only the fields of the request; see GET /openapi.json",
    )


def parse_model(body: bytes, model: type[RequestT]) -> RequestT:
    """``body`` parsed into ``model``; BAD_REQUEST naming the field otherwise."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc, model) from None


async def read_model(request: Request, model: type[RequestT]) -> RequestT:
    """The body parsed into ``model``; BAD_REQUEST for anything else, read at most 1 MiB."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_big()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_big()
    return parse_model(bytes(body), model)


async def read_body(scope: Scope, receive: Receive) -> bytes:
    """``read_model``'s reading for a raw ASGI endpoint: the body, at most 1 MiB;
    ClientDisconnect when the client hangs up first."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_big()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_big()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


Handler = Callable[[Request], Awaitable[Response]]


def outcome(metrics: Metrics, name: str, exc: Exception) -> tuple[str, Response]:
    """(the outcome code counted, the answer) of a request that ``exc`` ended; re-raises
    what is not a refusal (a bug: the app's catch-all answers it). A client that hung up
    mid-request, or sent its body too slowly, is an outcome of its own, not a bug."""
    if isinstance(exc, SignerError):
        if exc.code is ErrorCode.STORAGE_DENIED:
            log.warning("%s: %s", name, exc.message)
        elif exc.code is ErrorCode.RATE_LIMITED:
            metrics.refused("token")
        return exc.code.value, error_response(exc)
    if isinstance(exc, ClientDisconnect):
        return CLIENT_CLOSED, client_closed_response()
    if isinstance(exc, BodyTimeout):
        return BODY_TIMEOUT, body_timeout_response(exc)
    raise exc


def measured(metrics: Metrics, name: str, handler: Handler) -> Handler:
    """Count and time ``handler``; a refusal becomes its error answer (see ``outcome``)."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        code = INTERNAL_CODE
        try:
            response = await handler(request)
            code = OK
        except Exception as exc:
            code, response = outcome(metrics, name, exc)
        finally:
            metrics.observe(name, code, time.perf_counter() - started)
        return response

    return endpoint


def api_handler(
    spec: ApiRoute[RequestT, PlanT, ResponseT],
    service: SignerService,
    tokens: ApiTokens,
    limiter: RateLimiter | None,
) -> Handler:
    """The handler of one route: auth, rate limit, body, plan on the loop, then execute."""
    use_case = spec.use_case

    async def handle(request: Request) -> Response:
        subject = tokens.authenticate(request.headers.get("authorization"))
        if limiter is not None:
            limiter.check(subject)
        body = await read_model(request, spec.request)
        plan = use_case.plan(service, body, subject)
        if plan.needs_storage:
            return json_response(await run_in_threadpool(use_case.execute, service, plan))
        return json_response(use_case.execute(service, plan))

    return handle


class ApiEndpoint(Generic[RequestT, PlanT, ResponseT]):
    """One route of the table as a raw ASGI app: ``measured(api_handler(...))`` step for
    step, without building a Starlette Request and its response wrapper for each call (a
    presign is answered in a few hundred microseconds; that wrapping was a tenth of it)."""

    def __init__(
        self,
        spec: ApiRoute[RequestT, PlanT, ResponseT],
        service: SignerService,
        tokens: ApiTokens,
        limiter: RateLimiter | None,
        metrics: Metrics,
    ) -> None:
        self.spec = spec
        self.service = service
        self.tokens = tokens
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        code = INTERNAL_CODE
        try:
            response = await self.answer(scope, receive)
            code = OK
        except Exception as exc:
            code, response = outcome(self.metrics, self.spec.name, exc)
        finally:
            self.metrics.observe(self.spec.name, code, time.perf_counter() - started)
        await response(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive) -> Response:
        authorization = _header(scope, b"authorization")
        subject = self.tokens.authenticate(
            None if authorization is None else authorization.decode("latin-1")
        )
        if self.limiter is not None:
            self.limiter.check(subject)
        body = parse_model(await read_body(scope, receive), self.spec.request)
        use_case, service = self.spec.use_case, self.service
        plan = use_case.plan(service, body, subject)
        if plan.needs_storage:
            return json_response(await run_in_threadpool(use_case.execute, service, plan))
        return json_response(use_case.execute(service, plan))


def api_routes(
    service: SignerService,
    tokens: ApiTokens,
    limiter: RateLimiter | None,
    metrics: Metrics,
) -> list[Route]:
    return [
        Route(
            spec.path,
            ApiEndpoint(spec, service, tokens, limiter, metrics),
            methods=["POST"],
            name=spec.name,
        )
        for spec in API
    ]
