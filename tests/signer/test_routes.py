"""The route table and where each step of a request runs: every plan on the event loop, and
only storage calls (which block) in the thread pool."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from signer import downloads, uploads
from signer.app import create_app
from signer.core.errors import ErrorCode, SignerError
from signer.models import PresignRequest
from signer.routes import API
from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage, StoredObject
from tests.signer.conftest import API_TOKEN

POOL_THREAD = "AnyIO worker thread"  # where starlette's run_in_threadpool runs a call


class RecordingStorage(Storage):
    """Real storage that also notes the thread each call to it runs on."""

    events: list[tuple[str, str]]

    def _note(self) -> None:
        self.events.append(("storage", threading.current_thread().name))

    def _request(self, method: str, key: str, **kwargs: Any) -> requests.Response:
        self._note()
        return super()._request(method, key, **kwargs)

    def stat(self, key: str) -> StoredObject | None:
        self._note()
        return super().stat(key)

    def remove(self, key: str) -> None:
        self._note()
        super().remove(key)


def test_plans_run_on_the_loop_and_only_storage_calls_leave_it(settings: Settings) -> None:
    events: list[tuple[str, str]] = []

    def clock() -> datetime:  # plans read the clock (or verify a token with it) on the loop
        events.append(("clock", threading.current_thread().name))
        return datetime.now(UTC)

    def where(path: str, body: dict[str, Any], status: int = 200) -> tuple[set[str], set[str]]:
        """(what ran on the event loop, what ran in the thread pool) for one request."""
        events.clear()
        answer = client.post(path, json=body)
        assert answer.status_code == status, answer.text
        loop = {what for what, thread in events if not thread.startswith(POOL_THREAD)}
        pool = {what for what, thread in events if thread.startswith(POOL_THREAD)}
        return loop, pool

    storage = RecordingStorage.from_settings(settings)
    storage.events = events
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with TestClient(create_app(settings, storage=storage, clock=clock), headers=headers) as client:
        small = {"content_type": "text/plain", "size_bytes": 10}
        assert where("/v1/uploads/presign", small) == ({"clock"}, set())
        single = client.post("/v1/uploads/presign", json=small).json()
        assert where("/v1/uploads/presign-post", small) == ({"clock"}, set())
        multipart = {**small, "multipart": "force"}
        assert where("/v1/uploads/presign", multipart) == ({"clock"}, {"storage"})
        token = client.post("/v1/uploads/presign", json=multipart).json()["intent_token"]
        parts = {"intent_token": token, "part_numbers": [1]}
        assert where("/v1/uploads/parts", parts) == ({"clock"}, set())
        # abort records when it aborted: that clock read is part of the storage step.
        assert where("/v1/uploads/abort", {"intent_token": token}) == (
            {"clock"},
            {"storage", "clock"},
        )
        complete = {"intent_token": single["intent_token"]}
        assert where("/v1/uploads/complete", complete, 404) == ({"clock"}, {"storage"})
        download = {"object_key": "uploads/2026/01/none.txt"}
        assert where("/v1/downloads/presign", download, 404) == (set(), {"storage"})
        # A refusal the plan makes never reaches the pool, nor storage.
        refused = {**multipart, "content_type": "image/gif"}
        assert where("/v1/uploads/presign", refused, 415) == (set(), set())


def test_each_route_holds_its_use_case() -> None:
    """The table names the code it runs (go to definition lands on it), not a method name."""
    assert {route.name: route.use_case for route in API} == {
        "presign_upload": uploads.presign_upload,
        "presign_post": uploads.presign_post,
        "sign_parts": uploads.sign_parts,
        "presign_part": uploads.presign_part,
        "refresh_intent": uploads.refresh_intent,
        "complete_upload": uploads.complete_upload,
        "abort_upload": uploads.abort_upload,
        "presign_download": downloads.presign_download,
    }


@pytest.mark.parametrize(
    ("fields", "needs_storage"),
    [
        ({"size_bytes": 10}, False),  # a single PUT is only signed
        ({"size_bytes": 10, "multipart": "force"}, True),  # the upload is created on storage
        ({"size_bytes": 20 * 2**20}, True),  # over the profile's 16 MiB threshold
        ({"size_bytes": 20 * 2**20, "multipart": "off"}, False),
    ],
)
def test_only_a_multipart_presign_plans_a_storage_call(
    settings: Settings, fields: Mapping[str, object], needs_storage: bool
) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    request = PresignRequest.model_validate({"content_type": "text/plain", **fields})
    plan = uploads.presign_upload.plan(service, request, "t")
    assert plan.needs_storage is needs_storage
    assert (plan.multipart is not None) is needs_storage
    assert plan.intent.strategy == ("multipart" if needs_storage else "single")


def test_a_refused_presign_is_refused_by_its_plan(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    request = PresignRequest(content_type="text/plain", size_bytes=10, profile="no-such-profile")
    with pytest.raises(SignerError) as caught:
        uploads.presign_upload.plan(service, request, "t")
    assert caught.value.code is ErrorCode.BAD_REQUEST
