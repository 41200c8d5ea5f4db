"""The Starlette app: ``create_app(settings)`` wires settings, storage, the use-cases and the
routes. Nothing is read at import time, so ``minio-stack --help`` works with an empty
environment; ``app_from_env`` is the factory the server's worker processes call.

Every request first passes ``RequestGuard`` (before routing, so before any authentication
work): an address that failed authentication too often is answered 429 at once, a 401 is
charged to its address, and the request body must arrive within SIGNER_BODY_TIMEOUT. What the
HTTP server itself bounds (header size and time, idle connections, connections at once) is
set in ``signer.server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, ExceptionHandler, Lifespan, Message, Receive, Scope, Send

from signer.auth import ApiTokens
from signer.core.errors import ErrorCode, SignerError
from signer.endpoints import PublicEndpointCheck
from signer.metrics import BODY_TIMEOUT, CLIENT_CLOSED, CONTENT_TYPE, OK, Metrics
from signer.models import INITIAL_PARTS, INTERNAL_CODE, HealthResponse, ReadyResponse
from signer.openapi import build_openapi
from signer.ratelimit import FailedAuthLimiter, RateLimiter
from signer.responses import (
    BodyTimeout,
    body_timeout_response,
    client_closed_response,
    error_response,
    internal_error_response,
    json_response,
    validation_error,
)
from signer.routes import api_routes, measured
from signer.service import SignerService
from signer.settings import Network, Settings
from signer.storage import Storage
from signer.uppy import uppy_routes

log = logging.getLogger("signer")
UNMATCHED = "unmatched"
# Probes and scrapes are never refused for an address's failed authentications: a load
# balancer in front, without SIGNER_TRUSTED_PROXIES, shares one address with every client.
UNGUARDED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class TrustedProxies:
    """The proxies whose X-Forwarded-For is believed (SIGNER_TRUSTED_PROXIES); none by
    default, so a client cannot pick its own address by sending the header."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)
        self._seen: dict[str, bool] = {}  # peers are few (the proxies); parsing is not free

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: str) -> bool:
        known = self._seen.get(host)
        if known is None:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                known = False
            else:
                known = any(ip in network for network in self.networks)
            if len(self._seen) < 1024:
                self._seen[host] = known
        return known


def client_address(scope: Scope, trusted: TrustedProxies) -> str:
    """Who sent the request: the connection's peer, or, when the peer is a trusted proxy, the
    right-most X-Forwarded-For entry that is not a trusted proxy (each proxy appends the
    address it saw; what is left of that, the client wrote itself)."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not trusted or peer not in trusted:
        return peer
    hops = [
        str(hop).strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in bytes(value).decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        if hop and hop not in trusted:
            return hop
    return peer


class RequestGuard:
    """ASGI middleware in front of the routes: the failed-authentication limit by client
    address (checked before any other work, charged for every 401) and the body deadline."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: FailedAuthLimiter | None,
        trusted: TrustedProxies,
        body_timeout: float,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted = trusted
        self.body_timeout = body_timeout
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self.limiter
        if limiter is not None and scope["path"] not in UNGUARDED_PATHS:
            address = client_address(scope, self.trusted)
            try:
                limiter.check(address)
            except SignerError as exc:
                self.metrics.refused("address")
                self.metrics.observe(UNMATCHED, exc.code.value, 0.0)
                await error_response(exc)(scope, receive, send)
                return
            send = self._charging_401(send, limiter, address)
        await self.app(scope, self._with_deadline(receive), send)

    @staticmethod
    def _charging_401(send: Send, limiter: FailedAuthLimiter, address: str) -> Send:
        async def charged(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                limiter.failed(address)
            await send(message)

        return charged

    def _with_deadline(self, receive: Receive) -> Receive:
        """``receive`` that raises BodyTimeout once the body has taken longer than allowed
        since the request began (a drip-fed body cannot hold a request open). A plain timer
        that cancels the waiting task: ``asyncio.timeout`` costs ten times as much, on every
        request."""
        seconds = self.body_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        async def bounded() -> Message:
            task = asyncio.current_task()
            assert task is not None  # receive() is only ever awaited by a request's task
            expired = False

            def expire() -> None:
                nonlocal expired
                expired = True
                task.cancel()

            timer = loop.call_at(deadline, expire)
            try:
                return await receive()
            except asyncio.CancelledError:
                if expired and task.uncancel() == 0:
                    raise BodyTimeout(seconds) from None
                raise
            finally:
                timer.cancel()

        return bounded


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

    async def on_client_disconnect(request: Request, exc: Exception) -> Response:
        # The client hung up mid-request: nothing to answer, nothing wrong with the signer.
        metrics.observe(UNMATCHED, CLIENT_CLOSED, 0.0)
        return client_closed_response()

    async def on_body_timeout(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTimeout)
        metrics.observe(UNMATCHED, BODY_TIMEOUT, 0.0)
        return body_timeout_response(exc)

    async def on_anything_else(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        metrics.observe(UNMATCHED, INTERNAL_CODE, 0.0)
        return internal_error_response()

    return {
        HTTPException: on_http_exception,
        SignerError: on_signer_error,
        ValidationError: on_validation_error,
        ClientDisconnect: on_client_disconnect,
        BodyTimeout: on_body_timeout,
        Exception: on_anything_else,
    }


def _service_routes(
    settings: Settings, storage: Storage, metrics: Metrics, public_endpoint: PublicEndpointCheck
) -> list[BaseRoute]:
    """The routes outside the API table: health, readiness, metrics, the OpenAPI document."""
    openapi = build_openapi()

    async def healthz(request: Request) -> Response:
        return json_response(HealthResponse())

    async def readyz(request: Request) -> Response:
        started = time.perf_counter()
        try:
            await run_in_threadpool(storage.check_ready)
            # Ready means the URLs it signs work, too: the public endpoint reaches this storage.
            await run_in_threadpool(public_endpoint.verify)
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


def _lifespan(
    settings: Settings, storage: Storage, public_endpoint: PublicEndpointCheck
) -> Lifespan[Starlette]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "signer for bucket %s at %s (public %s), policy: %s",
            settings.bucket,
            settings.s3_endpoint,
            settings.public_endpoint,
            settings.policy_source,
        )
        stop_proving = public_endpoint.watch()
        yield
        stop_proving()
        storage.close()
        log.info("signer stopped")

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
    public_endpoint = PublicEndpointCheck.from_settings(settings)
    routes: list[BaseRoute] = [
        *api_routes(service, tokens, limiter, metrics),
        *uppy_routes(service, tokens, limiter, metrics),
        *_service_routes(settings, storage, metrics, public_endpoint),
    ]
    if settings.demo:
        from signer.demo import demo_routes  # only when asked: it embeds an API token

        routes += demo_routes(settings)
    failed_auth = settings.limits.failed_auth
    guard = Middleware(
        RequestGuard,
        limiter=(
            FailedAuthLimiter(failed_auth.rate, failed_auth.burst) if failed_auth.enabled else None
        ),
        trusted=TrustedProxies(settings.limits.trusted_proxies),
        body_timeout=settings.limits.body_timeout,
        metrics=metrics,
    )
    app = Starlette(
        routes=routes,
        middleware=[guard],
        exception_handlers=_exception_handlers(metrics),
        lifespan=_lifespan(settings, storage, public_endpoint),
    )
    app.state.settings = settings
    app.state.service = service
    app.state.metrics = metrics
    return app


def app_from_env() -> Starlette:
    """Factory for the server's worker processes: settings from the environment."""
    from signer.settings import load

    app = create_app(load())
    # What is built by now lives as long as the worker (modules, settings, keys, the app):
    # out of the cyclic collector's reach, a full collection no longer walks its ~60k objects
    # (18 ms with them, a stall every request in flight waits out: issue 17's tail).
    gc.collect()
    gc.freeze()
    return app
