"""How ``minio-stack signer serve`` runs the app: granian, with the limits of SIGNER_* settings,
and logs that never carry a credential.

Why granian (a Rust HTTP server for ASGI apps) rather than uvicorn, measured on the 2-core
development machine (issue 14, hole 4; issue 17):

- uvicorn with httptools bounds neither the size nor the arrival time of a request head: one
  64 MiB ``Authorization`` header was read whole (8 s, RSS 71 -> 135 MB) and answered, and
  connections that sent half a request stayed open for good. Its h11 parser can bound the
  size but answers 400, costs more CPU per request, and still has no head timeout.
  granian (hyper underneath) refuses a head over SIGNER_MAX_HEADER_BYTES with 431 as soon as
  the limit is crossed, and closes a connection whose head (or next request on an idle
  keep-alive connection) takes longer than SIGNER_HEADER_TIMEOUT.
- HTTP parsing, socket I/O and accepting connections run in granian's Rust threads, outside
  the GIL. uvicorn accepts and reads on the event loop, which a busy worker turns only every
  few tens of milliseconds: at 64 connections, new ones waited up to a second for their first
  answer (issue 17's c=64 tail).

The 431 comes from hyper, with an empty body: the app never sees such a request, so it cannot
answer the JSON error shape. The app bounds the body itself (``signer.app.RequestGuard``).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import Any

from signer.settings import Settings

APP_FACTORY = "signer.app:app_from_env"
# Seconds a worker gets to finish what it is answering on SIGTERM before it is killed.
GRACEFUL_SHUTDOWN = 10
ACCESS_FORMAT = '%(addr)s - "%(method)s %(path)s?%(query_string)s %(protocol)s" %(status)d'

# Query parameters whose values are credentials: OAuth-style tokens, SigV4 and SigV2 presigned
# URL parts, and generic secrets. Matched case-insensitively wherever a query appears.
_SECRET_PARAMS = (
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "api_key",
    "apikey",
    "client_secret",
    "secret",
    "password",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "awsaccesskeyid",
)
_QUERY_SECRET = re.compile(
    r"(?i)(?<![\w-])(" + "|".join(re.escape(name) for name in _SECRET_PARAMS) + r")=[^&\s\"']*"
)
# A JWT anywhere (intent and browser tokens travel in Uppy's paths and in bodies).
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_EMPTY_QUERY = re.compile(r"\?(?=[\s\"])")
REDACTED = "redacted"


def redact(text: str) -> str:
    """``text`` with credential query values, bearer tokens and JWTs replaced by 'redacted'."""
    text = _QUERY_SECRET.sub(rf"\1={REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    return _EMPTY_QUERY.sub("", text)


class RedactingFormatter(logging.Formatter):
    """Every log line, its traceback included, goes through ``redact`` last: whatever logged
    it (the signer, granian's access log, a library), no token or signature reaches the log."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_config() -> dict[str, Any]:
    """One stderr handler for everything (granian's lines, the signer's, the access log)."""
    formatter = {"()": RedactingFormatter, "fmt": "%(levelname)s: %(message)s"}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "redacting",
        "stream": "ext://sys.stderr",
    }
    loggers = {
        name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
        for name in ("_granian", "granian", "granian.access", "signer")
    }
    # Audit lines (signer.audit) are records in their own right, logfmt or JSON: no prefix,
    # so a log shipper parses each line whole.
    loggers["signer.audit"] = {"handlers": ["audit"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "redacting": formatter,
            "bare": {"()": RedactingFormatter, "fmt": "%(message)s"},
        },
        "handlers": {"stderr": handler, "audit": {**handler, "formatter": "bare"}},
        "loggers": loggers,
    }


def event_loop() -> str:
    """uvloop where installed (granian[uvloop]), else asyncio's own loop."""
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``granian.Granian`` for ``settings``."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    limits = settings.limits
    return {
        "address": settings.listen_host,
        "port": settings.listen_port,
        "interface": Interfaces.ASGI,  # with lifespan: start-up line, storage closed at exit
        "factory": True,
        "workers": settings.workers,
        "loop": Loops(event_loop()),
        "http": HTTPModes.http1,  # clients speak HTTP/1.1; one parser, one set of limits
        "websockets": False,
        "backpressure": limits.max_connections,
        "http1_settings": HTTP1Settings(
            header_read_timeout=round(limits.header_timeout * 1000),
            keep_alive=True,
            max_buffer_size=limits.max_header_bytes,
        ),
        "log_level": LogLevels.info,
        "log_dictconfig": log_config(),
        "log_access": settings.access_log,
        "log_access_format": ACCESS_FORMAT,
        "respawn_failed_workers": settings.workers > 1,
        "workers_kill_timeout": GRACEFUL_SHUTDOWN,
    }


def serve(settings: Settings) -> None:
    """Serve the app until SIGTERM/SIGINT; workers build it from the environment."""
    from granian import Granian

    Granian(APP_FACTORY, **server_options(settings)).serve()
