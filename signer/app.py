"""The Starlette app: ``create_app(settings)`` wires settings, storage, the use-cases and the
routes. Nothing is read at import time, so ``minio-stack --help`` works with an empty
environment; ``app_from_env`` is the factory uvicorn's worker processes call.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ExceptionHandler, Lifespan

from signer.auth import ApiTokens
from signer.core.errors import ErrorCode, SignerError
from signer.metrics import CONTENT_TYPE, OK, Metrics
from signer.models import INITIAL_PARTS, INTERNAL_CODE, HealthResponse, ReadyResponse
from signer.openapi import build_openapi
from signer.ratelimit import RateLimiter
from signer.responses import (
    error_response,
    internal_error_response,
    json_response,
    validation_error,
)
from signer.routes import api_routes, measured
from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage

log = logging.getLogger("signer")
UNMATCHED = "unmatched"


def _exception_handlers(metrics: Metrics) -> dict[type[Exception], ExceptionHandler]:
    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            error = SignerError(
                ErrorCode.NOT_FOUND, f"no route {where}", hint="GET /openapi.json lists the routes"
            )
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            error = SignerError(
                ErrorCode.BAD_REQUEST,
                f"method {request.method} is not allowed on {request.url.path}",
                hint=f"use {allowed}" if allowed else "GET /openapi.json lists the routes",
            )
        else:
            error = SignerError(ErrorCode.BAD_REQUEST, str(exc.detail))
        metrics.observe(UNMATCHED, error.code.value, 0.0)
        # 405 keeps its status (and Allow header): HTTP clients and proxies rely on it.
        status = exc.status_code if exc.status_code in (405, 413) else None
        return error_response(error, status=status, headers=exc.headers)

    async def on_signer_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignerError)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        return error_response(validation_error(exc))

    async def on_anything_else(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        metrics.observe(UNMATCHED, INTERNAL_CODE, 0.0)
        return internal_error_response()

    return {
        HTTPException: on_http_exception,
        SignerError: on_signer_error,
        ValidationError: on_validation_error,
        Exception: on_anything_else,
    }


def _service_routes(settings: Settings, storage: Storage, metrics: Metrics) -> list[BaseRoute]:
    """The routes outside the API table: health, readiness, metrics, the OpenAPI document."""
    openapi = build_openapi()

    async def healthz(request: Request) -> Response:
        return json_response(HealthResponse())

    async def readyz(request: Request) -> Response:
        started = time.perf_counter()
        try:
            await run_in_threadpool(storage.check_ready)
        except SignerError as exc:
            metrics.observe("readyz", exc.code.value, time.perf_counter() - started)
            # Not ready is 503 whatever the cause: load balancers act on exactly that.
            return error_response(exc, status=503)
        metrics.observe("readyz", OK, time.perf_counter() - started)
        return json_response(ReadyResponse(bucket=settings.bucket))

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def openapi_page(request: Request) -> Response:
        return JSONResponse(openapi)

    return [
        Route("/healthz", measured(metrics, "healthz", healthz), methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/openapi.json", measured(metrics, "openapi", openapi_page), methods=["GET"]),
    ]


def _lifespan(settings: Settings, storage: Storage) -> Lifespan[Starlette]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "signer for bucket %s at %s (public %s), policy: %s",
            settings.bucket,
            settings.s3_endpoint,
            settings.public_endpoint,
            settings.policy_source,
        )
        yield
        storage.close()

    return lifespan


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    clock: Callable[[], datetime] | None = None,
    initial_parts: int = INITIAL_PARTS,
) -> Starlette:
    """The signer's ASGI app. ``storage``/``clock``/``initial_parts`` exist for tests and tuning."""
    storage = storage or Storage.from_settings(settings)
    service = SignerService(settings, storage, initial_parts=initial_parts)
    if clock is not None:
        service.clock = clock
    tokens = ApiTokens(settings.api_tokens)
    limit = settings.rate_limit
    limiter = RateLimiter(limit.rate, limit.burst) if limit.enabled else None
    metrics = Metrics()
    routes: list[BaseRoute] = [
        *api_routes(service, tokens, limiter, metrics),
        *_service_routes(settings, storage, metrics),
    ]
    if settings.demo:
        from signer.demo import demo_routes  # only when asked: it embeds an API token

        routes += demo_routes(settings)
    app = Starlette(
        routes=routes,
        exception_handlers=_exception_handlers(metrics),
        lifespan=_lifespan(settings, storage),
    )
    app.state.settings = settings
    app.state.service = service
    app.state.metrics = metrics
    return app


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` worker processes: settings from the environment."""
    from signer.settings import load

    return create_app(load())
