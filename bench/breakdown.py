"""Where one ``POST /v1/uploads/presign`` (single PUT) spends its CPU, measured in-process.

Each component is timed alone with the same inputs the use-case gives it, as CPU µs per call
(``time.process_time``: all threads of this process, so the thread-pool hop counts both
sides). Layers, from the inside out:

- the pieces of the use-case: the PUT presign (3 signed headers), the GET presign the answer
  carries (with a response-content-disposition), the ES256 intent token, the object key and
  its ULID, the JSON answer;
- the ``presign_upload`` use-case whole (``signer.uploads``);
- the Starlette app called as ASGI (no HTTP, no sockets): the request guard, auth, rate
  limit, body parsing, metrics, JSON answer (a single-PUT presign makes no storage call, so
  it runs on the event loop; the ``run_in_threadpool`` hop, timed alone, is what a storage
  call adds);
- and, from the load test, the signer's CPU per request over HTTP: the gap to the ASGI app is
  the server, granian (HTTP parsing and socket I/O in its Rust threads, the hand-over to the
  event loop; no access log line unless SIGNER_ACCESS_LOG=true).

The event loop is uvloop when installed, as under granian.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from bench.profiling import Profile, profile_async_calls, profile_calls
from bench.stats import summary

PRESIGN_PATH = "/v1/uploads/presign"
BODY = {"content_type": "image/png", "size_bytes": 1024, "filename": "bench.png"}
ROUNDS = 3


def _loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    try:
        from uvloop import run as run_loop
    except ImportError:
        return asyncio.run
    return run_loop


def app_and_service(env: dict[str, str]) -> tuple[Any, Any]:
    from signer.app import create_app
    from signer.settings import load

    app = create_app(load(env))
    return app, app.state.service


def asgi_caller(app: Any, token: str) -> Callable[[], Coroutine[Any, Any, int]]:
    """A coroutine function that sends one presign POST straight into the ASGI app."""
    body = json.dumps(BODY).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PRESIGN_PATH,
        "raw_path": PRESIGN_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    async def call() -> int:
        status.clear()
        await app(dict(scope), receive, send)
        return status[0] if status else 0

    return call


def cpu_us(call: Callable[[], object], seconds: float) -> float:
    """CPU µs per call of ``call``, repeated for about ``seconds``."""
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            call()
        count += 20
    return (time.process_time() - cpu) / count * 1e6


async def cpu_us_async(
    call: Callable[[], Coroutine[Any, Any, int | None]], seconds: float
) -> tuple[float, set[int | None]]:
    seen: set[int | None] = set()
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            seen.add(await call())
        count += 20
    return (time.process_time() - cpu) / count * 1e6, seen


def _components(service: Any) -> dict[str, Callable[[], object]]:
    """The use-case's pieces, called through the core's public functions."""
    from ulid import ULID

    from signer.core.keys import make_object_key
    from signer.core.sigv4 import presign_url
    from signer.models import PresignRequest
    from signer.responses import json_response
    from signer.uploads import presign_upload

    s = service.settings
    profile = s.policy.profile(None)
    now = datetime.now(UTC).replace(microsecond=0)
    key = make_object_key(profile, ext="png", now=now, uuid=str(ULID()))[0]
    put_headers = {"Content-Type": "image/png", "Content-Length": "1024", "If-None-Match": "*"}
    claims = {
        "sub": "api-bench",
        "jti": uuid.uuid4().hex,
        "bucket": s.bucket,
        "object_key": key,
        "profile": profile.name,
        "mime": "image/png",
        "size": 1024,
        "size_max": 1024,
        "strategy": "single",
        "headers_required": {},
        "filename": "bench.png",
    }
    answer = presign_upload(service, PresignRequest.model_validate(BODY), "api-bench")

    def sign(method: str, headers: dict[str, str] | None, query: dict[str, str] | None) -> str:
        return presign_url(
            method=method, endpoint=s.public_endpoint, bucket=s.bucket, key=key,
            access_key=s.access_key, secret_key=s.secret_key, region=s.region, expires=900,
            now=datetime.now(UTC), headers=headers, query=query,
        )  # fmt: skip

    disposition = {"response-content-disposition": 'inline; filename="bench.png"'}
    return {
        "sigv4_put_3_headers": lambda: sign("PUT", put_headers, None),
        "sigv4_get_disposition": lambda: sign("GET", None, disposition),
        "intent_token_jwt": lambda: s.keys.issue(
            claims, now=now, ttl=4500, issuer=s.token_issuer, audience=s.token_audience
        ),
        "object_key_ulid": lambda: make_object_key(profile, ext="png", now=now, uuid=str(ULID())),
        "json_answer": lambda: json_response(answer),
    }


def run(env: dict[str, str], seconds: float) -> dict[str, Any]:
    """CPU µs per call of every layer; ``seconds`` is the whole budget."""
    from starlette.concurrency import run_in_threadpool

    from signer.models import PresignRequest
    from signer.uploads import presign_upload

    app, service = app_and_service(env)
    token = env["SIGNER_API_TOKENS"].split(",")[0]
    request = PresignRequest.model_validate(BODY)
    parts = _components(service)
    call = asgi_caller(app, token)
    slice_s = seconds / ROUNDS / (len(parts) + 3)
    samples: dict[str, list[float]] = {name: [] for name in [*parts, "use_case", "thread_hop"]}
    samples["asgi_app"] = []
    statuses: set[int | None] = set()
    run_loop = _loop_runner()

    async def hop() -> None:
        await run_in_threadpool(int)

    for _ in range(ROUNDS):
        for name, piece in parts.items():
            samples[name].append(cpu_us(piece, slice_s))
        samples["use_case"].append(cpu_us(lambda: presign_upload(service, request, "b"), slice_s))
        samples["thread_hop"].append(run_loop(cpu_us_async(hop, slice_s))[0])
        us, seen = run_loop(cpu_us_async(call, slice_s))
        samples["asgi_app"].append(us)
        statuses |= seen
    return {
        "cpu_us": {name: summary(values) for name, values in samples.items()},
        "asgi_statuses": sorted(s for s in statuses if s is not None),
    }


def profile(env: dict[str, str], seconds: float) -> list[Profile]:
    """pyinstrument of the use-case, and of the ASGI app (its thread-pool part is a wait)."""
    from signer.models import PresignRequest
    from signer.uploads import presign_upload

    app, service = app_and_service(env)
    token = env["SIGNER_API_TOKENS"].split(",")[0]
    request = PresignRequest.model_validate(BODY)
    found = [profile_calls("http-use_case", lambda: presign_upload(service, request, "b"), seconds)]
    run_loop = _loop_runner()
    found.append(run_loop(profile_async_calls("http-asgi_app", asgi_caller(app, token), seconds)))
    return found
