"""`minio-stack wait` and the health logic, against real MinIO servers."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner

from bootstrap.health import live_endpoint, wait_ready
from bootstrap.health import main as health_main
from common.errors import WaitTimeout
from harness.minio_server import free_port
from minio_stack.cli import main


def test_wait_ready_against_running_server(minio):
    ready = wait_ready(minio.endpoint, timeout=10)
    assert ready.endpoint == minio.endpoint
    assert ready.attempts >= 1


def test_wait_cli_json_ready(minio):
    result = CliRunner().invoke(
        main, ["wait", "--endpoint", minio.endpoint, "--timeout", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["endpoint"] == minio.endpoint


def test_wait_for_server_that_starts_late(minio_factory):
    server = minio_factory(start=False)
    starter = threading.Timer(2.0, server.start, kwargs={"wait": False})
    starter.start()
    try:
        result = CliRunner().invoke(
            main, ["wait", "--endpoint", server.endpoint, "--timeout", "60"]
        )
    finally:
        starter.join()
    assert result.exit_code == 0, result.output
    assert "is ready" in result.stdout


def test_wait_times_out_with_last_observation():
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["wait", "--endpoint", endpoint, "--timeout", "1.5"])
    assert result.exit_code == 3
    assert "connection refused" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_wait_ready_raises_timeout_naming_stage():
    with pytest.raises(WaitTimeout) as info:
        wait_ready(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    assert "/minio/health/live" in str(info.value)


def test_wait_reports_http_status_when_not_minio(tmp_path):
    """A server that answers but is not healthy: the last line names the HTTP status."""
    import http.server

    class NotReady(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), NotReady)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = CliRunner().invoke(
            main, ["wait", "--endpoint", f"http://127.0.0.1:{httpd.server_port}", "--timeout", "1"]
        )
        assert time.monotonic() - started < 30  # bounded, not a speed goal
    finally:
        httpd.shutdown()
    assert result.exit_code == 3
    assert "HTTP 503" in result.stderr


@pytest.mark.parametrize(
    "args", [["--timeout", "0"], ["--endpoint", "127.0.0.1:9000"], ["--bogus"]]
)
def test_wait_bad_arguments_exit_2(args):
    result = CliRunner().invoke(main, ["wait", *args])
    assert result.exit_code == 2


# --- the MinIO image's HEALTHCHECK (issue 13, defect 3) ------------------------------------------


def test_live_endpoint_is_the_recorded_one_else_minios_default(tmp_path):
    recorded = tmp_path / "endpoint"
    assert live_endpoint(None) == live_endpoint(recorded) == "http://127.0.0.1:9000"
    recorded.write_text("\n")
    assert live_endpoint(recorded) == "http://127.0.0.1:9000"
    recorded.write_text("http://127.0.0.1:9100\n")
    assert live_endpoint(recorded) == "http://127.0.0.1:9100"


def test_health_main_checks_the_recorded_endpoint(minio, tmp_path):
    recorded = tmp_path / "endpoint"
    recorded.write_text(minio.endpoint + "\n")
    result = CliRunner().invoke(health_main, ["--endpoint-file", str(recorded)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"live: {minio.endpoint}\n"


def test_health_main_fails_in_one_line_when_nothing_listens(tmp_path):
    recorded = tmp_path / "endpoint"
    endpoint = f"http://127.0.0.1:{free_port()}"
    recorded.write_text(endpoint)
    result = CliRunner().invoke(health_main, ["--endpoint-file", str(recorded), "--timeout", "1"])
    assert result.exit_code == 1
    assert result.stderr == f"unhealthy: {endpoint}/minio/health/live: connection refused\n"


def test_health_main_fails_on_an_unreadable_endpoint_file(tmp_path):
    result = CliRunner().invoke(health_main, ["--endpoint-file", str(tmp_path)])
    assert result.exit_code == 2  # a directory: click refuses it before anything runs
    unreadable = tmp_path / "endpoint"
    unreadable.mkdir()
    (unreadable / "x").write_text("")
    result = CliRunner().invoke(health_main, ["--endpoint-file", str(unreadable / "x" / "y")])
    assert result.exit_code == 1
    assert result.stderr.startswith("unhealthy: cannot read ") and result.stderr.count("\n") == 1
