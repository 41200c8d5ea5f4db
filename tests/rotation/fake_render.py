"""A local stand-in for Render's REST API (https://api-docs.render.com), for contract tests.

It implements exactly the calls rotation makes, as Render documents them, and refuses
anything else the way Render does:

- ``PUT /v1/services/{serviceId}/env-vars/{envVarKey}`` with ``{"value": "..."}`` → 200
  ``{"key": ..., "value": ...}`` (the variable is set on the service).
- ``POST /v1/services/{serviceId}/deploys`` with a JSON object (``clearCache``: ``clear`` or
  ``do_not_clear``, optional) → 202 with the deploy (``id``, ``status: created``, ...).
- ``GET /v1/services/{serviceId}/deploys/{deployId}`` → 200 with the deploy.

Every request needs ``Authorization: Bearer <key>`` (else 401); an unknown service or deploy
is 404; errors are ``{"id": ..., "message": ...}``. A deploy runs in a thread through
build_in_progress → update_in_progress → live, calling ``on_deploy(env)`` in between, which
is where a test restarts its real MinIO with the service's variables. ``fail_deploys`` makes
the next deploys end ``update_failed`` without touching the running instance, as a failed
Render deploy leaves the previous one serving. ``throttle_next`` answers 429 first.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ENV_VAR = re.compile(r"^/v1/services/(?P<sid>[^/]+)/env-vars/(?P<key>[^/]+)$")
_DEPLOYS = re.compile(r"^/v1/services/(?P<sid>[^/]+)/deploys$")
_DEPLOY = re.compile(r"^/v1/services/(?P<sid>[^/]+)/deploys/(?P<did>[^/]+)$")
_DEPLOY_FIELDS = {"clearCache", "commitId", "imageUrl", "deployMode"}


@dataclass
class Call:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeRender:
    api_key: str
    service_id: str
    on_deploy: Callable[[dict[str, str]], None]
    env: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    deploys: dict[str, str] = field(default_factory=dict)
    fail_deploys: int = 0
    throttle_next: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeRender:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = "<not json>"
                fake.calls.append(
                    Call(self.command, self.path, self.headers.get("Authorization"), body)
                )
                status, doc, headers = fake.route(
                    self.command, self.path, self.headers.get("Authorization"), body
                )
                self._answer(status, doc, headers)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- Render's behaviour ---------------------------------------------------------------

    def route(self, method: str, path: str, auth: str | None, body: Any):
        if auth != f"Bearer {self.api_key}":
            return 401, {"id": "unauthorized", "message": "invalid API key"}, None
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return 429, {"id": "rate_limited", "message": "slow down"}, {"Retry-After": "0"}
        if m := _ENV_VAR.match(path):
            if method != "PUT":
                return 405, {"id": "method_not_allowed", "message": method}, None
            if m["sid"] != self.service_id:
                return 404, {"id": "not_found", "message": "service not found"}, None
            if (
                not isinstance(body, dict)
                or set(body) != {"value"}
                or not isinstance(body["value"], str)
            ):
                return 400, {"id": "bad_request", "message": 'body must be {"value": string}'}, None
            self.env[m["key"]] = body["value"]
            return 200, {"key": m["key"], "value": body["value"]}, None
        if m := _DEPLOYS.match(path):
            if method != "POST":
                return 405, {"id": "method_not_allowed", "message": method}, None
            if m["sid"] != self.service_id:
                return 404, {"id": "not_found", "message": "service not found"}, None
            if (
                not isinstance(body, dict)
                or set(body) - _DEPLOY_FIELDS
                or body.get("clearCache", "do_not_clear") not in ("clear", "do_not_clear")
            ):
                return 400, {"id": "bad_request", "message": "invalid deploy request"}, None
            deploy_id = f"dep-{secrets.token_hex(10)}"
            self.deploys[deploy_id] = "created"
            fail = self.fail_deploys > 0
            self.fail_deploys -= int(fail)
            threading.Thread(
                target=self._deploy, args=(deploy_id, dict(self.env), fail), daemon=True
            ).start()
            return 202, self._deploy_doc(deploy_id), None
        if m := _DEPLOY.match(path):
            if method != "GET":
                return 405, {"id": "method_not_allowed", "message": method}, None
            if m["sid"] != self.service_id or m["did"] not in self.deploys:
                return 404, {"id": "not_found", "message": "deploy not found"}, None
            return 200, self._deploy_doc(m["did"]), None
        return 404, {"id": "not_found", "message": f"no route {method} {path}"}, None

    def _deploy_doc(self, deploy_id: str) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": deploy_id,
            "status": self.deploys[deploy_id],
            "trigger": "api",
            "createdAt": now,
            "updatedAt": now,
        }

    def _deploy(self, deploy_id: str, env: dict[str, str], fail: bool) -> None:
        for status in ("build_in_progress", "update_in_progress"):
            time.sleep(0.05)
            self.deploys[deploy_id] = status
        if fail:
            self.deploys[deploy_id] = "update_failed"
            return
        try:
            self.on_deploy(env)
        except Exception:  # the new instance never became healthy
            self.deploys[deploy_id] = "update_failed"
            return
        self.deploys[deploy_id] = "live"
