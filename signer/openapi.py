"""``/openapi.json``: the whole contract, built from the route table and the pydantic models.

Because the app and this document read the same ``API`` table and models, a route or field
cannot exist in one and not the other.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic.json_schema import models_json_schema

from signer.models import ErrorBody, HealthResponse, ReadyResponse
from signer.responses import INTERNAL_STATUS, STATUS
from signer.routes import API

REF = "#/components/schemas/{model}"


def _version() -> str:
    try:
        return version("minio-stack")
    except PackageNotFoundError:
        return "0.0.0"


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=ref)}}}


def _error_responses(codes) -> dict[str, Any]:
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


def build_openapi() -> dict[str, Any]:
    requests = [route.request for route in API]
    responses = [route.response for route in API] + [ErrorBody, HealthResponse, ReadyResponse]
    _, schemas = models_json_schema(
        [(model, "validation") for model in requests]
        + [(model, "serialization") for model in responses],
        ref_template=REF,
    )
    paths: dict[str, Any] = {}
    for route in API:
        paths[route.path] = {
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
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "The process is up (no storage call)",
            "responses": {"200": {"description": "OK", "content": _json("HealthResponse")}},
        }
    }
    paths["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "summary": "Storage answers with the signer's keys and the bucket exists",
            "responses": {
                "200": {"description": "Ready", "content": _json("ReadyResponse")},
                "503": {"description": "Not ready: storage_denied", "content": _json("ErrorBody")},
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
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
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of SIGNER_API_TOKENS",
                }
            },
        },
    }
