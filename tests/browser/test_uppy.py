"""Unmodified Uppy from npm in headless Chromium, uploading through the signer to MinIO.

The page (``tests/browser/uppy/``) is Uppy's Dashboard and ``@uppy/aws-s3`` in Companion mode,
pinned by ``package-lock.json``, installed with ``npm ci`` and bundled by esbuild when this
module runs. It is served from its own origin on 127.0.0.1; the signer and MinIO (converged
by bootstrap, CORS for the page's origin) are two more, so every call is a real cross-origin
request. The test plays the backend: it mints the browser token with the signer's API token
and hands the page only the answer, as docs/uppy.md shows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness.minio_server import ROOT, free_port
from signer.browser_tokens import browser_audience
from signer.core.tokens import BrowserGrant
from tests.browser.stack import BUCKET, Stack, png, publish_screenshot, save_artifact

pytestmark = pytest.mark.browser

PAGE_DIR = Path(__file__).resolve().parent / "uppy"
UPPY_VERSION = "6.3.1"  # @uppy/aws-s3 and @uppy/core, as package-lock.json pins them
SCREENSHOT = ROOT / "docs" / "uppy.png"
UPLOAD_SECONDS = 120
BIG_FILE_BYTES = 20 * 1024 * 1024  # 4 parts of 5 MiB, Uppy's smallest part
# Written beside node_modules after `npm ci`: the lock it installed, so a changed lock reinstalls.
STAMP = ".minio-stack-lock-sha256"


# --- the page: npm ci, esbuild, a static server -------------------------------------------------


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = (
            f"{tool} is needed to install and bundle Uppy for this test; install Node.js and "
            "npm with: sudo apt-get install -y nodejs npm   (or: make system-packages)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, cwd=PAGE_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {done.returncode}): cd {PAGE_DIR} && {' '.join(command)}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )


def install_uppy() -> None:
    """``npm ci`` from the lock, unless node_modules already holds exactly that lock."""
    npm = _need("npm")
    _need("node")
    lock = hashlib.sha256((PAGE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = PAGE_DIR / "node_modules" / STAMP
    if stamp.exists() and stamp.read_text().strip() == lock:
        return
    # --ignore-scripts: nothing from the registry runs here (esbuild's binary comes as its
    # own package; its install script only checks it).
    _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], "npm ci")
    stamp.write_text(lock + "\n")


@pytest.fixture(scope="session")
def uppy_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled page (index.html, page.js, page.css) in a directory of its own."""
    install_uppy()
    for package in ("aws-s3", "core"):
        installed = json.loads(
            (PAGE_DIR / "node_modules/@uppy" / package / "package.json").read_text()
        )
        assert installed["version"] == UPPY_VERSION
    out = tmp_path_factory.mktemp("uppy-page")
    esbuild = str(PAGE_DIR / "node_modules" / ".bin" / "esbuild")
    _run(
        [esbuild, "page.js", "--bundle", "--format=esm", f"--outdir={out}", "--log-level=warning"],
        "esbuild",
    )
    shutil.copyfile(PAGE_DIR / "index.html", out / "index.html")
    return out


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def page_server(uppy_page: Path) -> Iterator[str]:
    """The page's own origin: a static file server on 127.0.0.1."""
    port = free_port()
    server = ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(Quiet, directory=str(uppy_page))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="module")
def uppy_stack(make_stack: Callable[..., Stack], page_server: str) -> Stack:
    """MinIO whose CORS allows the page's origin (bootstrap), and the signer."""
    return make_stack(cors_origin=page_server)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("uppy-files")
    picture = base / "gradient.png"
    picture.write_bytes(png(96, 64))
    big = base / "big.bin"
    big.write_bytes(os.urandom(BIG_FILE_BYTES))
    notes = base / "notes.txt"
    notes.write_text("text is not an allowed type in this profile\n")
    return {"png": picture, "big": big, "txt": notes}


# --- the backend's part, and driving the page ---------------------------------------------------


def mint(stack: Stack, page_origin: str, **body: Any) -> dict[str, Any]:
    """What a backend does: ask the signer for a browser token with its API token."""
    answer = requests.post(
        f"{stack.url}/v1/browser-tokens",
        json={"origin": page_origin, **body},
        headers={"Authorization": f"Bearer {stack.signer.api_tokens[0]}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def open_page(
    driver, page_origin: str, stack: Stack, grant: dict[str, Any], restrict: bool
) -> None:
    config = {"signerUrl": stack.url, "grant": grant, "restrict": restrict}
    driver.get("about:blank")  # a new fragment alone would not load the page again
    driver.get(f"{page_origin}/index.html#{urllib.parse.quote(json.dumps(config))}")
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return Boolean(window.uppyTest)"))


def add_files(driver, paths: list[Path]) -> None:
    # The Dashboard's own file input, as a person's "browse files" fills it.
    field = driver.find_element(By.CSS_SELECTOR, "input.uppy-Dashboard-input[type=file]")
    field.send_keys("\n".join(str(p) for p in paths))


def upload(driver) -> dict[str, Any]:
    """Press Uppy's upload button, wait for its 'complete' event; what the page saw."""
    driver.find_element(By.CSS_SELECTOR, "button.uppy-StatusBar-actionBtn--upload").click()
    WebDriverWait(driver, UPLOAD_SECONDS).until(
        lambda d: d.execute_script(
            "return window.uppyTest.events.some((e) => e.event === 'complete')"
        )
    )
    return seen(driver)


def seen(driver) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script(
        "const t = window.uppyTest;"
        "return {events: t.events, answers: t.answers,"
        " text: document.querySelector('.uppy-Dashboard').innerText}"
    )
    return state


def events(state: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {e.get("name"): e for e in state["events"] if e["event"] == kind}


def console(driver) -> str:
    return "\n".join(entry["message"] for entry in driver.get_log("browser"))


def metric(stack: Stack, route: str, code: str) -> float:
    text = requests.get(f"{stack.url}/metrics", timeout=10).text
    line = f'signer_requests_total{{code="{code}",route="{route}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


# --- tests ---------------------------------------------------------------------------------------


def test_uppy_uploads_a_small_image_and_a_20_mib_file(
    browser, uppy_stack: Stack, page_server: str, files: dict[str, Path]
) -> None:
    grant = mint(uppy_stack, page_server, count=2)
    driver = browser
    driver.get_log("browser")
    open_page(driver, page_server, uppy_stack, grant, restrict=True)
    add_files(driver, [files["png"], files["big"]])
    state = upload(driver)

    done = events(state, "success")
    assert set(done) == {"gradient.png", "big.bin"}, f"{state['events']}\n{console(driver)}"
    assert events(state, "complete")[None]["failed"] == 0
    client = uppy_stack.minio.client()
    for name, path, parts in (("gradient.png", files["png"], 1), ("big.bin", files["big"], 4)):
        key = done[name]["key"]
        assert key.startswith("uploads/") and name not in key  # the signer's key
        stored = client.get_object(BUCKET, key)
        assert stored.read() == path.read_bytes(), name
        assert stored.headers["Content-Type"] == (
            "image/png" if parts == 1 else "application/octet-stream"
        )
        # The small image went up in one PUT, the big file in 4 parts of 5 MiB.
        assert client.stat_object(BUCKET, key).etag.endswith(f"-{parts}")
    # Every call went to the Uppy routes with the browser token; no API token reached the page.
    assert metric(uppy_stack, "uppy_complete", "ok") >= 2
    assert metric(uppy_stack, "uppy_sign_part", "ok") >= 5
    api_token = uppy_stack.signer.api_tokens[0]
    assert api_token not in driver.current_url and api_token not in driver.page_source
    assert all(api_token not in a["body"] for a in state["answers"])

    # The Dashboard says so: both files done, the image's thumbnail drawn.
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script(
            "const done = document.querySelector('.uppy-StatusBar.is-complete');"
            "const imgs = [...document.querySelectorAll('.uppy-Dashboard-Item-previewImg')];"
            "return done && imgs.length === 1 && imgs.every((i) => i.complete && i.naturalWidth)"
        )
    )
    assert "Upload complete" in seen(driver)["text"]
    assert len(driver.find_elements(By.CSS_SELECTOR, ".uppy-Dashboard-Item.is-complete")) == 2
    shot = save_artifact(driver, "uppy-done.png")
    publish_screenshot(shot, SCREENSHOT)


def test_a_disallowed_type_is_refused_by_uppy_in_the_signers_terms(
    browser, uppy_stack: Stack, page_server: str, files: dict[str, Path]
) -> None:
    grant = mint(uppy_stack, page_server)
    before = metric(uppy_stack, "uppy_create_multipart", "mime_not_allowed")
    open_page(browser, page_server, uppy_stack, grant, restrict=True)
    add_files(browser, [files["txt"]])
    WebDriverWait(browser, 10).until(lambda d: events(seen(d), "restriction"))
    state = seen(browser)
    message = events(state, "restriction")["notes.txt"]["message"]
    # Uppy's own words, from the allowlist the signer handed the backend.
    assert message == "You can only upload: application/octet-stream, image/png"
    assert "You can only upload" in browser.find_element(By.CSS_SELECTOR, ".uppy-Informer").text
    assert state["answers"] == []  # refused before any request
    assert metric(uppy_stack, "uppy_create_multipart", "mime_not_allowed") == before
    save_artifact(browser, "uppy-restricted.png")


def test_the_signer_refuses_a_disallowed_type_and_uppy_shows_it(
    browser, uppy_stack: Stack, page_server: str, files: dict[str, Path]
) -> None:
    grant = mint(uppy_stack, page_server)
    before = uppy_stack.uploaded()
    open_page(browser, page_server, uppy_stack, grant, restrict=False)
    add_files(browser, [files["txt"]])
    state = upload(browser)

    error = events(state, "error")["notes.txt"]
    # Uppy 6's Companion client shows a refusal's status text: the signer's 415.
    assert error["message"] == "Companion request failed: Unsupported Media Type"
    # ... on the file (its error details) and in the informer.
    details = browser.find_element(By.CSS_SELECTOR, ".uppy-Dashboard-Item-errorDetails")
    assert details.get_attribute("aria-label") == error["message"]
    assert "Failed to upload notes.txt" in state["text"]
    # What reached the browser is the signer's own answer, readable by the page (CORS).
    (answer,) = state["answers"]
    assert (answer["path"], answer["status"]) == ("s3/multipart", 415)
    body = json.loads(answer["body"])
    assert body["code"] == "mime_not_allowed"
    assert "text/plain" in body["message"] and "image/png" in body["hint"]
    assert uppy_stack.uploaded() == before
    save_artifact(browser, "uppy-refused.png")


def test_an_expired_or_out_of_scope_browser_token_is_refused(
    browser, uppy_stack: Stack, page_server: str, files: dict[str, Path]
) -> None:
    settings = uppy_stack.signer
    fresh = mint(uppy_stack, page_server)
    expired = settings.keys.issue_grant(
        BrowserGrant(
            id="0" * 32,
            subject="api-test",
            bucket=BUCKET,
            profile="default",
            size_max=64 * 1024 * 1024,
            count=1,
            origin=page_server,
        ),
        now=datetime.now(UTC) - timedelta(hours=2),
        ttl=60,
        issuer=settings.token_issuer,
        audience=browser_audience(settings),
    )
    small = mint(uppy_stack, page_server, size_max=1024 * 1024)
    elsewhere = mint(uppy_stack, "https://another-app.example")
    before = uppy_stack.uploaded()
    cases = {
        "expired": ({**fresh, "uppy_endpoint_path": f"/uppy/{expired}"}, "Unauthorized", 401),
        "over its size": (small, "Request Entity Too Large", 413),
        "another origin's": (elsewhere, None, None),
    }
    for what, (grant, status_text, status) in cases.items():
        open_page(browser, page_server, uppy_stack, grant, restrict=False)
        add_files(browser, [files["big"]])
        state = upload(browser)
        error = events(state, "error").get("big.bin")
        assert error is not None, f"{what}: {state['events']}"
        if status is None:
            # Refused by the signer (401) without CORS headers: the browser hides the answer.
            assert error["message"] == "Failed to fetch", f"{what}: {error}"
        else:
            assert error["message"] == f"Companion request failed: {status_text}", what
            assert state["answers"][-1]["status"] == status, what
        assert uppy_stack.uploaded() == before, what
    save_artifact(browser, "uppy-token-refused.png")
