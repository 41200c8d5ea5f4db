"""Which use-cases run on the event loop and which in the thread pool: only storage calls
(which block) leave the loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from starlette.testclient import TestClient

from signer.app import create_app
from signer.models import PresignRequest
from signer.routes import API
from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage
from tests.signer.conftest import API_TOKEN

POOL_THREAD = "AnyIO worker thread"  # where starlette's run_in_threadpool runs a call


def test_only_use_cases_that_call_storage_leave_the_event_loop(settings: Settings) -> None:
    threads: list[str] = []

    def clock() -> datetime:  # every use-case reads the clock, on the thread it runs on
        threads.append(threading.current_thread().name)
        return datetime.now(UTC)

    def where(path: str, body: dict, status: int = 200) -> tuple[str, dict]:
        threads.clear()
        answer = client.post(path, json=body)
        assert answer.status_code == status, answer.text
        assert threads, f"{path} did not read the clock"
        pooled = all(name.startswith(POOL_THREAD) for name in threads)
        return "pool" if pooled else "loop", answer.json()

    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with TestClient(create_app(settings, clock=clock), headers=headers) as client:
        small = {"content_type": "text/plain", "size_bytes": 10}
        ran, single = where("/v1/uploads/presign", small)
        assert ran == "loop" and single["strategy"] == "single"
        assert where("/v1/uploads/presign-post", small)[0] == "loop"
        ran, multipart = where("/v1/uploads/presign", {**small, "multipart": "force"})
        assert ran == "pool" and multipart["strategy"] == "multipart"
        token = multipart["intent_token"]
        assert where("/v1/uploads/parts", {"intent_token": token, "part_numbers": [1]})[0] == "loop"
        assert where("/v1/uploads/abort", {"intent_token": token})[0] == "pool"
        complete = {"intent_token": single["intent_token"]}
        assert where("/v1/uploads/complete", complete, 404)[0] == "pool"


def test_the_route_table_says_which_use_cases_call_storage(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    single = PresignRequest(content_type="text/plain", size_bytes=10)
    table = {route.name: route.calls_storage(service, single) for route in API}
    assert table == {
        "presign_upload": False,  # a single PUT is only signed
        "presign_post": False,
        "sign_parts": False,
        "complete_upload": True,
        "abort_upload": True,
        "presign_download": True,
    }


def test_only_a_multipart_presign_calls_storage(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))

    def calls(**fields: object) -> bool:
        return service.upload_calls_storage(
            PresignRequest.model_validate({"content_type": "text/plain", **fields})
        )

    assert not calls(size_bytes=10)
    assert calls(size_bytes=10, multipart="force")
    assert calls(size_bytes=20 * 2**20)  # over the default profile's 16 MiB threshold
    assert not calls(size_bytes=20 * 2**20, multipart="off")
    # Refused before any storage call, so it needs no thread either.
    assert not calls(size_bytes=10, profile="no-such-profile")
