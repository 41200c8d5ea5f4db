"""docs/examples/django/uploads.py against the real signer and MinIO: a logged-in user gets a
presign through the backend, the bytes go straight to MinIO, django-storages reads them back."""

from __future__ import annotations

import base64
import importlib.util
import json
import secrets
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import requests

from harness.minio_server import ROOT
from tests.signer.conftest import API_TOKEN, Identity, RunningSigner

EXAMPLE = ROOT / "docs" / "examples" / "django" / "uploads.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("uploads", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def django_env(
    signer: RunningSigner, identity: Identity, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    import django
    from django.conf import settings

    environ = {
        "SIGNER_URL": signer.url,
        "SIGNER_API_TOKEN": API_TOKEN,
        "MINIO_ENDPOINT": identity.minio.endpoint,
        "MINIO_BUCKET": identity.bucket,
        # The example reads with a bucket-scoped identity; the test uses the signer's own.
        "STORAGE_ACCESS_KEY": identity.access_key,
        "STORAGE_SECRET_KEY": identity.secret_key,
    }
    for name, value in environ.items():
        monkeypatch_module.setenv(name, value)
    example = _load_example()
    if not settings.configured:
        settings.configure(
            SECRET_KEY=secrets.token_hex(16),
            ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "storages",
            ],
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            ROOT_URLCONF=__name__,
            STORAGES={"default": example.storage_settings(environ)},
            LOGIN_URL="/login",
        )
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, run_syncdb=True)
    from django.urls import path

    global urlpatterns  # ROOT_URLCONF is this module
    urlpatterns = [
        path("api/uploads/presign", example.presign_upload),
        path("api/uploads/complete", example.complete_upload),
    ]
    yield environ


urlpatterns: list[Any] = []


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture
def user_client(django_env: dict[str, Any]) -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(username="ada")
    client = Client()
    client.force_login(user)
    return client


def test_a_user_uploads_through_the_backend_and_django_reads_it(user_client: Any) -> None:
    from django.core.files.storage import default_storage

    data = b"hello from a django user\n"
    answer = user_client.post(
        "/api/uploads/presign",
        {"content_type": "text/plain", "size_bytes": len(data), "filename": "note.txt"},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    presign = answer.json()
    # The backend named the actor: the intent token's sub is this Django user.
    payload = presign["intent_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    from django.contrib.auth.models import User

    assert claims["sub"] == f"user:{User.objects.get(username='ada').pk}"
    upload = presign["upload"]
    put = requests.request(
        upload["method"], upload["url"], data=data, headers=upload["headers"], timeout=30
    )
    assert put.status_code == 200, put.text
    done = user_client.post(
        "/api/uploads/complete",
        {"intent_token": presign["intent_token"]},
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    with default_storage.open(presign["object_key"]) as stored:
        assert stored.read() == data
    # The URL django-storages renders for a template is presigned: the bucket stays private.
    url = default_storage.url(presign["object_key"])
    assert "X-Amz-Signature=" in url
    assert requests.get(url, timeout=30).content == data


def test_the_signers_refusal_reaches_the_page_in_its_shape(user_client: Any) -> None:
    answer = user_client.post(
        "/api/uploads/presign",
        {"content_type": "application/x-msdownload", "size_bytes": 10},
        content_type="application/json",
    )
    assert answer.status_code == 415
    assert answer.json()["code"] == "mime_not_allowed"


def test_an_anonymous_visitor_gets_no_presign(django_env: dict[str, Any]) -> None:
    from django.test import Client

    answer = Client().post(
        "/api/uploads/presign",
        {"content_type": "text/plain", "size_bytes": 1},
        content_type="application/json",
    )
    assert answer.status_code == 302  # to LOGIN_URL: the signer was never asked
    assert answer["Location"].startswith("/login")


def test_a_body_that_is_not_json_is_refused_by_the_backend(user_client: Any) -> None:
    answer = user_client.post("/api/uploads/presign", "not json", content_type="text/plain")
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_request"
