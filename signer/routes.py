"""The HTTP API's routes: one table (``API``) that both the app and ``/openapi.json`` read.

Every ``/v1`` route runs the same steps: authenticate the bearer token, take one request from
its rate-limit bucket, read a bounded JSON body into the route's request model, run the
use-case, answer JSON. A use-case that calls storage (which blocks) runs in the thread pool;
one that only signs (a single-PUT or form presign, part URLs: tens of microseconds of CPU)
runs on the event loop, since the hop to a thread and back would cost more than the work.
Each route says which (``ApiRoute.calls_storage``). Errors at any step answer the one error
shape, and every request is counted by route and outcome code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from signer.auth import ApiTokens
from signer.core.errors import ErrorCode, SignerError
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

log = logging.getLogger("signer")

# Large enough for a complete with 10,000 parts listed; anything bigger is not a real request.
MAX_BODY_BYTES = 1024 * 1024
E = ErrorCode
_COMMON = (E.UNAUTHORIZED, E.BAD_REQUEST, E.RATE_LIMITED)

# Whether the use-case will call storage for this request (then it runs in the thread pool).
CallsStorage = Callable[[SignerService, BaseModel], bool]


def always(service: SignerService, request: BaseModel) -> bool:
    return True


def never(service: SignerService, request: BaseModel) -> bool:
    return False


@dataclass(frozen=True)
class ApiRoute:
    path: str
    name: str  # operationId, and the route label in metrics
    summary: str
    request: type[BaseModel]
    response: type[BaseModel]
    call: str  # the SignerService method
    errors: tuple[ErrorCode, ...]
    calls_storage: CallsStorage = always


API: tuple[ApiRoute, ...] = (
    ApiRoute(
        "/v1/uploads/presign",
        "presign_upload",
        "Presign an upload: one PUT, or a multipart upload created on storage",
        PresignRequest,
        PresignResponse,
        "presign_upload",
        (*_COMMON, E.MIME_NOT_ALLOWED, E.SIZE_TOO_LARGE, E.STORAGE_DENIED),
        SignerService.upload_calls_storage,  # only a multipart upload is created on storage
    ),
    ApiRoute(
        "/v1/uploads/presign-post",
        "presign_post",
        "Presign a browser form upload (POST policy; storage enforces size and type)",
        PresignPostRequest,
        PresignPostResponse,
        "presign_post",
        (*_COMMON, E.MIME_NOT_ALLOWED, E.SIZE_TOO_LARGE),
        never,
    ),
    ApiRoute(
        "/v1/uploads/parts",
        "sign_parts",
        "Sign more part URLs of a multipart upload",
        PartsRequest,
        PartsResponse,
        "sign_parts",
        (*_COMMON, E.SIGNATURE_INVALID),
        never,  # at most MAX_PARTS_PER_CALL URLs: about a millisecond
    ),
    ApiRoute(
        "/v1/uploads/complete",
        "complete_upload",
        "Complete an upload and check the stored object against the intent",
        CompleteRequest,
        CompleteResponse,
        "complete",
        (
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
        "abort",
        (*_COMMON, E.SIGNATURE_INVALID, E.NOT_FOUND, E.CONFLICT, E.STORAGE_DENIED),
    ),
    ApiRoute(
        "/v1/downloads/presign",
        "presign_download",
        "Presign a download of an existing object",
        DownloadRequest,
        DownloadResponse,
        "presign_download",
        (*_COMMON, E.MIME_NOT_ALLOWED, E.NOT_FOUND, E.STORAGE_DENIED),
    ),
)


async def read_model(request: Request, model: type[BaseModel]) -> BaseModel:
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


def api_routes(
    service: SignerService,
    tokens: ApiTokens,
    limiter: RateLimiter | None,
    metrics: Metrics,
) -> list[Route]:
    routes = []
    for spec in API:

        def make(spec: ApiRoute = spec) -> Handler:
            use_case = getattr(service, spec.call)
            calls_storage = spec.calls_storage

            async def handle(request: Request) -> JSONResponse:
                subject = tokens.authenticate(request.headers.get("authorization"))
                if limiter is not None:
                    limiter.check(subject)
                body = await read_model(request, spec.request)
                if calls_storage(service, body):
                    return json_response(await run_in_threadpool(use_case, body, subject))
                return json_response(use_case(body, subject))

            return handle

        routes.append(
            Route(spec.path, measured(metrics, spec.name, make()), methods=["POST"], name=spec.name)
        )
    return routes
