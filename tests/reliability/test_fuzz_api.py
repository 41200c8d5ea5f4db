"""Fuzz the signer's whole OpenAPI contract with schemathesis, against the real app.

The app is ``create_app(settings)`` with settings pointing at the session's real MinIO and a
real bucket-scoped signer identity; schemathesis calls it in-process (ASGI). For every
operation in ``/openapi.json`` it sends schema-valid and schema-breaking requests, with and
without the bearer token, and checks: no 5xx, every response matches the documented schema,
and every error body has the one error shape {code, message, hint?, retry_after_seconds?}.
Examples are bounded so the whole module stays well under a minute.
"""

from __future__ import annotations

import io
import json
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.checks import CheckContext
from schemathesis.core.failures import Failure
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import BaseSchema
from starlette.testclient import TestClient

from harness.minio_server import MinioServer
from signer.app import create_app
from signer.core.errors import ErrorCode
from signer.openapi import build_openapi
from signer.settings import load
from tests.signer.conftest import API_TOKEN, POLICY_YAML, environment, make_identity

MAX_EXAMPLES = 40
PRESIGN = "/v1/uploads/presign"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ALLOWED_TYPES = ("text/plain", "image/png", "application/octet-stream")
ERROR_FIELDS = {"code", "message", "hint", "retry_after_seconds"}
CODES = {c.value for c in ErrorCode} | {"internal"}


@dataclass(frozen=True)
class Target:
    schema: BaseSchema
    intent_tokens: tuple[str, ...]  # real ones: single and multipart, for parts/complete/abort
    object_keys: tuple[str, ...]  # real ones, for downloads


@pytest.fixture(scope="module")
def target(minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Target:
    policy = tmp_path_factory.mktemp("fuzz-policy") / "policy.yaml"
    policy.write_text(POLICY_YAML)
    identity = make_identity(minio, "fuzz-" + secrets.token_hex(4))
    # The rate limit stays on (its 429 is part of the contract) but roomy enough for the fuzz.
    app = create_app(load(environment(identity, Path(policy), SIGNER_RATE_LIMIT="500,1000")))
    # from_asgi reads the served document but leaves its own path (/openapi.json) out of the
    # operations; reloading the same document keeps every operation, still called in-process.
    served = schemathesis.openapi.from_asgi("/openapi.json", app).raw_schema
    schema = schemathesis.openapi.from_dict(served)
    schema.app = app
    tokens, keys = [], []
    with TestClient(app) as client:
        for body in (
            {"content_type": "text/plain", "size_bytes": 5},
            {"content_type": "application/octet-stream", "size_bytes": 100, "multipart": "force"},
        ):
            answer = client.post(PRESIGN, json=body, headers=AUTH)
            assert answer.status_code == 200, answer.text
            tokens.append(answer.json()["intent_token"])
            keys.append(answer.json()["object_key"])
    # One object really stored, so a download can find it.
    identity.root.put_object(identity.bucket, keys[0], io.BytesIO(b"hello"), 5)
    return Target(schema, tuple(tokens), tuple(keys))


def steer(case: Case, target: Target, roll: int) -> None:
    """Half the cases keep what schemathesis generated; the other half get policy-valid
    values where a JSON schema cannot say what is valid (an allowed MIME type, a real intent
    token, an existing key), so the fuzz also reaches the use-cases and storage."""
    if roll % 2 or not isinstance(case.body, dict):
        return
    path, body = case.operation.path, case.body
    if path in (PRESIGN, "/v1/uploads/presign-post"):
        body["content_type"] = ALLOWED_TYPES[roll % len(ALLOWED_TYPES)]
        body.pop("ext", None)
        body.pop("profile", None)
        if path == PRESIGN and isinstance(body.get("size_bytes"), int):
            body["size_bytes"] = body["size_bytes"] % (40 * 1024 * 1024)
    elif "intent_token" in body:
        body["intent_token"] = target.intent_tokens[roll // 2 % len(target.intent_tokens)]
    elif path == "/v1/downloads/presign":
        body["object_key"] = target.object_keys[roll // 2 % len(target.object_keys)]


def operations(*, with_input: bool = False) -> list[tuple[str, str]]:
    """Every (method, path) of the contract (``with_input``: those taking a body or
    parameters, the only ones schema-breaking requests exist for). The test below checks the
    served document has exactly these, so the parametrisation cannot silently miss one."""
    return [
        (method.upper(), path)
        for path, ops in build_openapi()["paths"].items()
        for method, op in ops.items()
        if not with_input or "requestBody" in op or op.get("parameters")
    ]


# What the issue asks of every response: no 5xx, the documented status, content type and
# schema, garbage refused with a 4xx, and the one error shape. Not positive_data_acceptance:
# policy (MIME allowlist, profile names, key_base pattern, signed intent tokens) is stricter
# than a JSON schema can say, so schema-valid requests are often rightly refused.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


def _shape_problems(content: bytes) -> list[str]:
    try:
        body = json.loads(content)
    except ValueError:
        return [f"not JSON: {content[:200]!r}"]
    if not isinstance(body, dict):
        return [f"not an object: {body!r}"]
    problems = []
    if set(body) - ERROR_FIELDS:
        problems.append(f"unexpected fields {sorted(set(body) - ERROR_FIELDS)}")
    if body.get("code") not in CODES:
        problems.append(f"unknown code {body.get('code')!r}")
    if not isinstance(body.get("message"), str) or not body["message"]:
        problems.append("no message")
    if "hint" in body and not (isinstance(body["hint"], str) and body["hint"]):
        problems.append("empty or non-string hint")
    retry = body.get("retry_after_seconds")
    if retry is not None and not (isinstance(retry, int) and retry >= 1):
        problems.append(f"bad retry_after_seconds {retry!r}")
    return problems


@schemathesis.check
def error_shape(ctx: CheckContext, response, case: Case) -> bool | None:
    """Every 4xx/5xx body is {code, message, hint?, retry_after_seconds?}, nothing else."""
    if response.status_code < 400:
        return None
    problems = _shape_problems(response.content)
    if problems:
        raise Failure(
            operation=case.operation.label,
            title="error body breaks the error shape",
            message="; ".join(problems),
        )
    return True


def test_the_served_contract_has_every_operation(target: Target) -> None:
    served = {(r.ok().method.upper(), r.ok().path) for r in target.schema.get_all_operations()}
    assert served == set(operations())
    # Every route that takes input is fuzzed; these must be among them (a guard against an
    # empty or truncated list, which would make the fuzz tests below pass vacuously).
    core = {
        ("POST", "/v1/uploads/presign"),
        ("POST", "/v1/uploads/parts"),
        ("POST", "/v1/uploads/presign-post"),
        ("POST", "/v1/uploads/complete"),
        ("POST", "/v1/uploads/abort"),
        ("POST", "/v1/downloads/presign"),
        ("POST", "/v1/browser-tokens"),
    }
    assert core <= set(operations(with_input=True))


def test_the_error_shape_check_can_fail() -> None:
    assert _shape_problems(b'{"code": "bad_request", "message": "x"}') == []
    assert _shape_problems(b'{"detail": "Not Found"}') != []
    assert _shape_problems(b"<html>500</html>") != []


@pytest.mark.parametrize(
    "mode, method, path",
    [(GenerationMode.POSITIVE, *op) for op in operations()]
    + [(GenerationMode.NEGATIVE, *op) for op in operations(with_input=True)],
)
def test_contract_holds_for_any_request(
    target: Target, mode: GenerationMode, method: str, path: str
) -> None:
    operation = target.schema[path][method]
    statuses: list[int] = []

    @given(
        case=operation.as_strategy(generation_mode=mode),
        auth_roll=st.integers(0, 3),
        roll=st.integers(0, 7),
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Case, auth_roll: int, roll: int) -> None:
        # Mostly with the real token, so requests get past auth into validation and the
        # use-cases (storage included); a quarter with whatever schemathesis generated.
        headers = dict(case.headers or {})
        if auth_roll != 3:  # (hypothesis favours small numbers: 0 is the common case)
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            headers.update(AUTH)
        case.headers = headers
        if mode is GenerationMode.POSITIVE:
            steer(case, target, roll)
        response = case.call_and_validate(checks=[*CHECKS, error_shape])
        statuses.append(response.status_code)

    run()
    assert statuses, "no request was sent"
    print(f"fuzz {mode.value} {method} {path}: {dict(sorted(Counter(statuses).items()))}")
