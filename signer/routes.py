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
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from signer.auth import ApiTokens
from signer.core.errors import ErrorCode, SignerError
from signer.downloads import presign_download
from signer.metrics import OK, Metrics
from signer.models import (
    INTERNAL_CODE,
    AbortRequest,
    AbortResponse,
    CompleteRequest,
    CompleteResponse,
    DownloadRequest,
    DownloadResponse,
    PartsRequest,
    PartsResponse,
    PresignPostRequest,
    PresignPostResponse,
    PresignRequest,
    PresignResponse,
)
from signer.ratelimit import RateLimiter
from signer.responses import error_response, json_response, validation_error
from signer.service import SignerService
from signer.uploads import abort_upload, complete_upload, presign_post, presign_upload, sign_parts
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


async def read_model(request: Request, model: type[RequestT]) -> RequestT:
    """The body parsed into ``model``; BAD_REQUEST for anything else, read at most 1 MiB."""
    too_big = SignerError(
        ErrorCode.BAD_REQUEST,
        f"the request body is larger than {MAX_BODY_BYTES} bytes",
        hint="send only the fields of the request; see GET /openapi.json",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_big
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise validation_error(exc, model) from None


Handler = Callable[[Request], Awaitable[Response]]


def measured(metrics: Metrics, name: str, handler: Handler) -> Handler:
    """Count and time ``handler``; a SignerError becomes its error answer."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        code = OK
        try:
            return await handler(request)
        except SignerError as exc:
            code = exc.code.value
            if exc.code is ErrorCode.STORAGE_DENIED:
                log.warning("%s: %s", name, exc.message)
            return error_response(exc)
        except Exception:
            code = INTERNAL_CODE
            raise
        finally:
            metrics.observe(name, code, time.perf_counter() - started)

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


def api_routes(
    service: SignerService,
    tokens: ApiTokens,
    limiter: RateLimiter | None,
    metrics: Metrics,
) -> list[Route]:
    return [
        Route(
            spec.path,
            measured(metrics, spec.name, api_handler(spec, service, tokens, limiter)),
            methods=["POST"],
            name=spec.name,
        )
        for spec in API
    ]
