"""signer.server: what granian is given for the settings, and the log redaction every line
goes through (the live behaviour is in test_server_limits.py)."""

from __future__ import annotations

import logging
import sys

import pytest

from signer.server import RedactingFormatter, log_config, redact, server_options
from signer.settings import Settings, load
from tests.signer.conftest import Identity, environment


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '"GET /healthz?access_token=abc123&x=1 HTTP/1.1" 200',
            '"GET /healthz?access_token=redacted&x=1 HTTP/1.1" 200',
        ),
        (
            "PUT /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F2026&"
            "X-Amz-Signature=0f1e2d",
            "PUT /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=redacted&"
            "X-Amz-Signature=redacted",
        ),
        ("?x-amz-security-token=T0K&Signature=S1G&AWSAccessKeyId=A", None),
        ("Authorization: Bearer s3cr3t-token-value", "Authorization: Bearer redacted"),
        (
            "/uppy/eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln/s3/multipart",
            "/uppy/redacted/s3/multipart",
        ),
        # Not credentials: left as they are.
        ("?key=uploads/2026/a.png&type=image/png", "?key=uploads/2026/a.png&type=image/png"),
        ("?tokenizer=on&my_token_count=3", "?tokenizer=on&my_token_count=3"),
        ('"POST /v1/uploads/presign? HTTP/1.1" 201', '"POST /v1/uploads/presign HTTP/1.1" 201'),
    ],
)
def test_redact(line: str, expected: str | None) -> None:
    out = redact(line)
    if expected is None:
        assert "T0K" not in out and "S1G" not in out and "AWSAccessKeyId=redacted" in out
    else:
        assert out == expected


def test_the_formatter_redacts_tracebacks_too() -> None:
    formatter = RedactingFormatter("%(levelname)s: %(message)s")
    try:
        raise ValueError("could not fetch /b/k?X-Amz-Signature=deadbeef")
    except ValueError:
        record = logging.LogRecord(
            "signer", logging.ERROR, __file__, 1, "failed %s", ("?access_token=t0k",), True
        )
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "ValueError" in text and "deadbeef" not in text and "t0k" not in text


def test_every_logger_goes_through_the_redacting_formatter() -> None:
    config = log_config()
    assert config["formatters"]["redacting"]["()"] is RedactingFormatter
    for name in ("_granian", "granian.access", "signer"):
        assert config["loggers"][name]["handlers"] == ["stderr"]


@pytest.fixture
def tuned(identity: Identity, policy_file) -> Settings:
    env = environment(
        identity,
        policy_file,
        SIGNER_MAX_HEADER_BYTES="32KiB",
        SIGNER_HEADER_TIMEOUT="5s",
        SIGNER_BODY_TIMEOUT="3s",
        SIGNER_MAX_CONNECTIONS="64",
        SIGNER_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1",
        SIGNER_FAILED_AUTH_LIMIT="2,5",
        SIGNER_WORKERS="2",
        SIGNER_ACCESS_LOG="true",
    )
    return load(env)


def test_the_settings_become_the_server_limits(tuned: Settings) -> None:
    options = server_options(tuned)
    http1 = options["http1_settings"]
    assert http1.max_buffer_size == 32 * 1024
    assert http1.header_read_timeout == 5000
    assert options["backpressure"] == 64
    assert options["workers"] == 2 and options["respawn_failed_workers"] is True
    assert options["log_access"] is True
    assert (options["address"], options["port"]) == ("127.0.0.1", 8080)
    assert tuned.limits.body_timeout == 3.0
    assert [str(n) for n in tuned.limits.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert (tuned.limits.failed_auth.rate, tuned.limits.failed_auth.burst) == (2.0, 5)


def test_the_defaults(settings: Settings) -> None:
    limits = settings.limits
    assert (limits.max_header_bytes, limits.header_timeout) == (16 * 1024, 15.0)
    assert (limits.body_timeout, limits.max_connections) == (10.0, 1000)
    assert limits.trusted_proxies == ()
    assert (limits.failed_auth.rate, limits.failed_auth.burst) == (10.0, 100)
    assert server_options(settings)["log_access"] is False
