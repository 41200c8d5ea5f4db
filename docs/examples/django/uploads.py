"""A Django backend in front of the signer: the browser asks *your* backend for an upload, your
backend checks who the user is and asks the signer, and the browser sends the bytes straight to
MinIO with the URL it gets back. The API token never leaves the backend.

After the PUT the page calls ``complete``: the signer checks what arrived (size, type) and only
then makes the object; an upload never completed is not an object.

Wire it into a project:

    # urls.py
    from django.urls import path
    from uploads import complete_upload, presign_upload
    urlpatterns = [
        path("api/uploads/presign", presign_upload),
        path("api/uploads/complete", complete_upload),
    ]

    # settings.py
    from uploads import storage_settings
    STORAGES = {"default": storage_settings(os.environ), "staticfiles": ...}

Environment (on Render, `SIGNER_HOSTPORT` and `SIGNER_API_TOKEN` come from `fromService`; see
the README's "Deploy to Render"):
    SIGNER_URL or SIGNER_HOSTPORT   the signer (http://host:port, or host:port)
    SIGNER_API_TOKEN                one of the signer's SIGNER_API_TOKENS
    MINIO_ENDPOINT, MINIO_BUCKET    for reading objects with django-storages
    STORAGE_ACCESS_KEY, STORAGE_SECRET_KEY   an identity that may read the bucket
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import requests
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

# What the browser may ask for (the kit's names and the spec's: mime, kind); everything else
# (the key, the lifetime, the limits) is the signer's policy, so a user cannot pick another
# user's key or a bigger size limit.
FIELDS = ("content_type", "mime", "kind", "size_bytes", "filename")


def signer_url(environ: Mapping[str, str] = os.environ) -> str:
    if environ.get("SIGNER_URL"):
        return environ["SIGNER_URL"].rstrip("/")
    return f"http://{environ['SIGNER_HOSTPORT']}"


@login_required
@require_POST
def presign_upload(request: HttpRequest) -> JsonResponse:
    """POST {mime (or content_type), size_bytes, kind?, filename?} → the signer's presign
    answer, for this user: the backend names the actor (the intent token's sub and the
    signer's audit log say who uploaded), never the page."""
    return _forward(request, "/v1/uploads/presign", FIELDS, actor=f"user:{request.user.pk}")


@login_required
@require_POST
def complete_upload(request: HttpRequest) -> JsonResponse:
    """POST {intent_token} → the signer's complete answer: the object exists from now on.

    The intent token is the signer's own signed statement of what may be uploaded, so the page
    cannot use it for another key, type or size; record the object in your database here."""
    return _forward(request, "/v1/uploads/complete", ("intent_token",))


def _forward(
    request: HttpRequest, route: str, fields: tuple[str, ...], **ours: str
) -> JsonResponse:
    try:
        asked = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"code": "bad_request", "message": "the body is not JSON"}, status=400)
    if not isinstance(asked, dict):
        return JsonResponse({"code": "bad_request", "message": "send a JSON object"}, status=400)
    answer = requests.post(
        f"{signer_url()}{route}",
        json={**{name: asked[name] for name in fields if name in asked}, **ours},
        headers={"Authorization": f"Bearer {os.environ['SIGNER_API_TOKEN']}"},
        timeout=30,
    )
    # The signer's errors already have one shape ({code, message, hint?}) a page can show.
    return JsonResponse(answer.json(), status=answer.status_code)


def storage_settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """``STORAGES["default"]`` for django-storages' S3 backend, reading the kit's bucket."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["MINIO_BUCKET"],
            "endpoint_url": environ["MINIO_ENDPOINT"],
            "access_key": environ["STORAGE_ACCESS_KEY"],
            "secret_key": environ["STORAGE_SECRET_KEY"],
            "region_name": environ.get("S3_REGION", "us-east-1"),
            # MinIO serves buckets on the path (http://host/bucket/key), not as subdomains.
            "addressing_style": "path",
            "signature_version": "s3v4",
            # The bucket is private: URLs Django renders are presigned, and expire.
            "querystring_auth": True,
            "querystring_expire": 3600,
            "default_acl": None,
            # Never overwrite: a second file with the same name gets a new key.
            "file_overwrite": False,
        },
    }
