"""rotation/render_api.py against the local Render API stand-in (a contract test).

The stand-in (fake_render.py) answers as Render documents; these tests check the client
sends what Render expects and turns Render's refusals into errors that say what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.errors import PermanentError, WaitTimeout
from rotation.render_api import RenderApi
from tests.rotation.fake_render import FakeRender

KEY = "rnd_contract_key"
SERVICE = "srv-contract"


@pytest.fixture
def fake() -> Iterator[FakeRender]:
    server = FakeRender(KEY, SERVICE, on_deploy=lambda env: None).start()
    yield server
    server.stop()


def test_set_env_var_sends_value_with_bearer_auth(fake: FakeRender) -> None:
    RenderApi(fake.base_url, KEY).set_env_var(SERVICE, "MINIO_ROOT_PASSWORD", "s3cret-value")
    (call,) = fake.calls
    assert call.method == "PUT"
    assert call.path == f"/v1/services/{SERVICE}/env-vars/MINIO_ROOT_PASSWORD"
    assert call.body == {"value": "s3cret-value"}
    assert call.authorization == f"Bearer {KEY}"
    assert fake.env["MINIO_ROOT_PASSWORD"] == "s3cret-value"


def test_deploy_is_triggered_and_polled_until_live(fake: FakeRender) -> None:
    api = RenderApi(fake.base_url, KEY)
    deploy = api.trigger_deploy(SERVICE)
    api.wait_live(SERVICE, deploy, timeout=10, poll=0.05)
    assert fake.deploys[deploy] == "live"
    assert fake.calls[0].body == {"clearCache": "do_not_clear"}


def test_a_failed_deploy_names_its_status(fake: FakeRender) -> None:
    fake.fail_deploys = 1
    api = RenderApi(fake.base_url, KEY)
    deploy = api.trigger_deploy(SERVICE)
    with pytest.raises(PermanentError, match="ended update_failed"):
        api.wait_live(SERVICE, deploy, timeout=10, poll=0.05)


def test_a_deploy_that_never_finishes_times_out() -> None:
    stuck = FakeRender(KEY, SERVICE, on_deploy=lambda env: __import__("time").sleep(5)).start()
    try:
        api = RenderApi(stuck.base_url, KEY)
        deploy = api.trigger_deploy(SERVICE)
        with pytest.raises(WaitTimeout, match="not live after"):
            api.wait_live(SERVICE, deploy, timeout=0.5, poll=0.05)
    finally:
        stuck.stop()


def test_a_wrong_key_is_named(fake: FakeRender) -> None:
    with pytest.raises(PermanentError) as caught:
        RenderApi(fake.base_url, "wrong-key").set_env_var(SERVICE, "X", "y")
    assert "RENDER_API_KEY" in caught.value.one_line()
    assert "wrong-key" not in caught.value.one_line()


def test_an_unknown_service_is_named(fake: FakeRender) -> None:
    with pytest.raises(PermanentError) as caught:
        RenderApi(fake.base_url, KEY).trigger_deploy("srv-other")
    assert "RENDER_SERVICE_ID" in caught.value.one_line()


def test_rate_limiting_is_retried(fake: FakeRender) -> None:
    fake.throttle_next = 2
    RenderApi(fake.base_url, KEY, sleep=lambda s: None).set_env_var(SERVICE, "K", "v")
    assert [c.method for c in fake.calls] == ["PUT", "PUT", "PUT"]
    assert fake.env["K"] == "v"
