"""The three calls of Render's REST API a rotation makes (https://api-docs.render.com).

- ``PUT  /v1/services/{serviceId}/env-vars/{envVarKey}`` body ``{"value": "..."}``:
  add or update one environment variable set directly on the service (not in an env group).
- ``POST /v1/services/{serviceId}/deploys`` body ``{"clearCache": "do_not_clear"}``:
  trigger a deploy; answers 202 with the deploy (``id``, ``status``).
- ``GET  /v1/services/{serviceId}/deploys/{deployId}``: the deploy, with its ``status``:
  created, queued, build_in_progress, update_in_progress, pre_deploy_in_progress (going),
  live (done), deactivated, build_failed, update_failed, canceled, pre_deploy_failed (not).

Every request carries ``Authorization: Bearer <RENDER_API_KEY>``. 429 and 5xx answers and
lost connections are retried with bounded backoff (Retry-After honoured); others are final.
No request body or response value is ever put in a message: they carry secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from common.errors import PermanentError, TemporaryError, WaitTimeout

LIVE = "live"
GOING = frozenset(
    {"created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"}
)
FAILED = frozenset(
    {"deactivated", "build_failed", "update_failed", "canceled", "pre_deploy_failed"}
)
REQUEST_TIMEOUT = 30.0
RETRY_BUDGET = 60.0


@dataclass
class RenderApi:
    base_url: str  # https://api.render.com/v1
    api_key: str = field(repr=False)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        try:
            resp = self.session.request(
                method,
                self.base_url + path,
                json=body,
                headers={
                    "Authorization": f"Bearer {self.api_key}",
                    "Accept": "application/json",
                },
                timeout=REQUEST_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise TemporaryError(f"Render API unreachable: {type(exc).__name__}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            wait = resp.headers.get("Retry-After", "")
            if wait.isdigit():
                self.sleep(min(float(wait), 30.0))
            raise TemporaryError(f"Render API answered {resp.status_code} to {method} {path}")
        if resp.status_code == 401:
            raise PermanentError(
                "Render refused the API key (401)", hint="set RENDER_API_KEY to a valid API key"
            )
        if resp.status_code == 404:
            raise PermanentError(
                f"Render answered 404 to {method} {path}",
                hint="check RENDER_SERVICE_ID (the minio-server service's srv-... id)",
            )
        if resp.status_code >= 400:
            raise PermanentError(
                f"Render answered {resp.status_code} to {method} {path}: {_message(resp)}"
            )
        try:
            return resp.json() if resp.content else None
        except ValueError:
            raise PermanentError(f"Render answered {method} {path} with non-JSON") from None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        for attempt in Retrying(
            retry=retry_if_exception_type(TemporaryError),
            wait=wait_exponential(multiplier=0.5, max=10.0),
            stop=stop_after_delay(RETRY_BUDGET),
            reraise=True,
        ):
            with attempt:
                return self._once(method, path, body)
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def set_env_var(self, service_id: str, key: str, value: str) -> None:
        self.request(
            "PUT", f"/services/{quote(service_id)}/env-vars/{quote(key)}", {"value": value}
        )

    def trigger_deploy(self, service_id: str) -> str:
        deploy = self.request(
            "POST", f"/services/{quote(service_id)}/deploys", {"clearCache": "do_not_clear"}
        )
        if not isinstance(deploy, dict) or not deploy.get("id"):
            raise PermanentError("Render's answer to the deploy request has no deploy id")
        return str(deploy["id"])

    def deploy_status(self, service_id: str, deploy_id: str) -> str:
        deploy = self.request("GET", f"/services/{quote(service_id)}/deploys/{quote(deploy_id)}")
        status = deploy.get("status") if isinstance(deploy, dict) else None
        if not isinstance(status, str):
            raise PermanentError(f"Render's deploy {deploy_id} has no status")
        return status

    def wait_live(self, service_id: str, deploy_id: str, timeout: float, poll: float) -> None:
        """Poll until the deploy is live; a failed status or the timeout raises."""
        deadline = time.monotonic() + timeout
        status = "unknown"
        while time.monotonic() < deadline:
            status = self.deploy_status(service_id, deploy_id)
            if status == LIVE:
                return
            if status in FAILED:
                raise PermanentError(
                    f"Render deploy {deploy_id} ended {status}",
                    hint="the service's Events and Logs pages in the Dashboard say why",
                )
            self.sleep(poll)
        raise WaitTimeout(f"Render deploy {deploy_id} not live after {timeout:g}s (last: {status})")


def _message(resp: requests.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return "no detail"
    message = doc.get("message") if isinstance(doc, dict) else None
    return str(message)[:200] if message else "no detail"
