"""``/openapi.json``: the whole contract, built from the route table and the pydantic models.

Because the app and this document read the same ``API`` table and models, a route or field
cannot exist in one and not the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic.json_schema import models_json_schema

from signer.core.errors import ErrorCode
from signer.models import ErrorBody, HealthResponse, ReadyResponse
from signer.responses import INTERNAL_STATUS, STATUS
from signer.routes import API, ApiRoute
from signer.uppy import BROWSER_API, UPPY_REQUESTS, UPPY_RESPONSES, uppy_paths

REF = "#/components/schemas/{model}"


def _version() -> str:
    try:
        return version("minio-stack")
    except PackageNotFoundError:
        return "0.0.0"


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=ref)}}}


def _error_responses(codes: Iterable[ErrorCode]) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS[code], []).append(code.value)
    by_status.setdefault(INTERNAL_STATUS, []).append("internal")
    return {
        str(status): {
            "description": "Error: " + ", ".join(names),
            "content": _json("ErrorBody"),
        }
        for status, names in sorted(by_status.items())
    }


def _operation(route: ApiRoute[Any, Any, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": route.name,
            "summary": route.summary,
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": _json(route.request.__name__)},
            "responses": {
                "200": {"description": "OK", "content": _json(route.response.__name__)},
                **_error_responses(route.errors),
            },
        }
    }


def _get(name: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": name, "summary": summary, "responses": responses}}


def _plain(description: str, media_type: str, schema_type: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": schema_type}}}}


# The routes outside the API table (app.py serves them): no token, GET.
_SERVICE_PATHS: dict[str, Any] = {
    "/healthz": _get(
        "healthz",
        "The process is up (no storage call)",
        {"200": {"description": "OK", "content": _json("HealthResponse")}},
    ),
    "/readyz": _get(
        "readyz",
        "Storage answers with the signer's keys and the bucket exists",
        {
            "200": {"description": "Ready", "content": _json("ReadyResponse")},
            "503": {"description": "Not ready: storage_denied", "content": _json("ErrorBody")},
        },
    ),
    "/metrics": _get(
        "metrics", "Prometheus metrics", {"200": _plain("OK", "text/plain", "string")}
    ),
    "/openapi.json": _get(
        "openapi", "This document", {"200": _plain("OK", "application/json", "object")}
    ),
}


def _schemas() -> dict[str, Any]:
    requests = [route.request for route in (*API, *BROWSER_API)] + [*UPPY_REQUESTS]
    responses = [route.response for route in (*API, *BROWSER_API)] + [*UPPY_RESPONSES]
    responses += [ErrorBody, HealthResponse, ReadyResponse]
    _, schemas = models_json_schema(
        [(model, "validation") for model in requests]
        + [(model, "serialization") for model in responses],
        ref_template=REF,
    )
    defs: dict[str, Any] = schemas["$defs"]
    return defs


def build_openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "minio-stack signer",
            "version": _version(),
            "description": (
                "Policy-checked presigned uploads and downloads. Every error, on every route, "
                "is an ErrorBody: {code, message, hint?, retry_after_seconds?}; 429 and "
                "retryable 502 answers also carry a Retry-After header."
            ),
        },
        "paths": {
            **{route.path: _operation(route) for route in (*API, *BROWSER_API)},
            **uppy_paths(_error_responses, REF),
            **_SERVICE_PATHS,
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of SIGNER_API_TOKENS",
                }
            },
        },
    }
