import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import loadgen


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"ok": true}'
        self.send_response(200 if self.path == "/ok" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply  # noqa: N815

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(5)
    httpd.server_close()


def job(url: str, **changes: object) -> loadgen.Job:
    fields = {
        "url": url,
        "body": '{"a": "it\'s"}',
        "headers": {"Authorization": "Bearer abc"},
        "connections": 2,
        "duration": 1,
    }
    return loadgen.Job(**{**fields, **changes})


def test_wrk_script_quotes_lua_strings():
    script = loadgen.wrk_script(job("http://127.0.0.1:1/x"))
    assert "wrk.method = 'POST'" in script
    assert 'wrk.body = \'{"a": "it\\\'s"}\'' in script
    assert "wrk.headers['Authorization'] = 'Bearer abc'" in script
    assert loadgen.RESULT_MARK in script


def test_get_jobs_send_no_body():
    script = loadgen.wrk_script(job("http://127.0.0.1:1/x", method="GET", body=""))
    assert "wrk.body" not in script
    _, _, raw = loadgen.request_bytes(job("http://127.0.0.1:1/x", method="GET", body=""))
    assert raw.startswith(b"GET /x HTTP/1.1\r\n") and raw.endswith(b"\r\n\r\n")


def test_request_bytes_is_one_http_request():
    host, port, raw = loadgen.request_bytes(job("http://127.0.0.1:8123/v1/x"))
    head, body = raw.split(b"\r\n\r\n", 1)
    assert (host, port) == ("127.0.0.1", 8123)
    assert head.startswith(b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:8123\r\n")
    assert f"Content-Length: {len(body)}".encode() in head


def test_wrk_whole_seconds():
    assert loadgen.wrk_seconds(0.2) == 1
    assert loadgen.wrk_seconds(3) == 3


def test_python_generator_counts_answers(server):
    result = loadgen.run_python(job(server + "/ok"))
    assert result.requests > 10
    assert result.errors == 0
    assert result.rps > 0
    assert 0 < result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]
    assert result.generator_cpu_s > 0


def test_python_generator_counts_non_200_as_errors(server):
    result = loadgen.run_python(job(server + "/missing"))
    assert result.requests > 0
    assert result.errors == result.requests
    assert result.error_detail == {"status": result.requests}


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_counts_answers_and_errors(server):
    good = loadgen.run_wrk(job(server + "/ok"))
    assert good.requests > 10 and good.errors == 0
    bad = loadgen.run_wrk(job(server + "/missing"))
    assert bad.errors > 0 and bad.error_detail.get("status") == bad.errors


def test_available_names_a_missing_wrk(monkeypatch):
    monkeypatch.setattr(loadgen.shutil, "which", lambda name: None)
    assert loadgen.available("auto") == "python"
    with pytest.raises(ValueError, match="apt-get install -y wrk"):
        loadgen.available("wrk")
