"""The demo page in headless Chromium: real preflights, real uploads, errors a person can read.

Storage is another origin than the page, so every PUT is a cross-origin request that Chromium
preflights; the page reads each part's ETag from storage's answer, as any web app would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness.minio_server import free_port
from tests.browser.stack import BUCKET, Stack, png, publish_screenshot, save_artifact

pytestmark = pytest.mark.browser

UPLOAD_SECONDS = 120
PNG_SIZE = (256, 267)  # 205 KB uncompressed: just over 200 KiB
BIG_FILE_BYTES = 20 * 1024 * 1024  # 4 parts of 5 MiB
ROW_STATE = """
return [...document.querySelectorAll('li.upload')].map((li) => {
  const img = li.querySelector('img.preview');
  const link = li.querySelector('a.link');
  return {
    name: li.querySelector('.name').textContent,
    state: li.dataset.state,
    error_code: li.dataset.errorCode || null,
    object_key: li.dataset.objectKey || null,
    text: li.innerText,
    href: link && link.href ? link.href : null,
    preview: li.dataset.preview || null,
    natural_width: img && !img.hidden ? img.naturalWidth : 0,
  };
});
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("browser-files")
    picture = base / "gradient.png"
    picture.write_bytes(png(*PNG_SIZE))
    big = base / "big.bin"
    big.write_bytes(os.urandom(BIG_FILE_BYTES))
    notes = base / "notes.txt"
    notes.write_text("text is not an allowed type in this profile\n")
    return {"png": picture, "big": big, "txt": notes}


def upload_on_page(driver, stack: Stack, paths: list[Path]) -> list[dict[str, Any]]:
    """Open /demo, pick ``paths``, press Upload, wait until every row is done or failed."""
    driver.get_log("browser")  # drop earlier pages' messages: console() shows this one's
    driver.get(f"{stack.url}/demo")
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.getElementById('profile').options.length")
    )
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))
    driver.find_element(By.ID, "start").click()
    WebDriverWait(driver, UPLOAD_SECONDS).until(
        lambda d: d.find_element(By.ID, "summary").get_attribute("data-state") in ("done", "error")
    )
    return driver.execute_script(ROW_STATE)


def console(driver) -> str:
    return "\n".join(entry["message"] for entry in driver.get_log("browser"))


def test_single_put_and_multipart_upload_from_the_page(browser, stack: Stack, files) -> None:
    rows = upload_on_page(browser, stack, [files["png"], files["big"]])
    by_name = {row["name"]: row for row in rows}
    assert [r["state"] for r in rows] == ["done", "done"], f"{rows}\n{console(browser)}"

    picture, big = by_name["gradient.png"], by_name["big.bin"]
    assert files["png"].stat().st_size >= 200 * 1024
    assert "single PUT" in picture["text"]
    assert "4 parts in parallel" in big["text"]

    # The get_url links hand back exactly the bytes the browser read from disk.
    for row, path in ((picture, files["png"]), (big, files["big"])):
        answer = requests.get(row["href"], timeout=30)
        assert answer.status_code == 200, answer.text[:300]
        assert answer.content == path.read_bytes()

    # Storage assembled the big file from the page's 4 parts (an S3 multipart ETag ends -N),
    # and the page fetched the URLs of the parts the presign answer did not carry.
    stat = stack.minio.client().stat_object(BUCKET, big["object_key"])
    assert stat.etag.endswith("-4")
    assert stat.size == BIG_FILE_BYTES
    metrics = requests.get(f"{stack.url}/metrics", timeout=10).text
    assert 'signer_requests_total{code="ok",route="sign_parts"} 1.0' in metrics

    def picture_row(driver) -> dict[str, Any]:
        return next(r for r in driver.execute_script(ROW_STATE) if r["name"] == "gradient.png")

    WebDriverWait(browser, 10).until(lambda d: picture_row(d)["preview"] is not None)
    picture = picture_row(browser)
    assert picture["preview"] == "loaded"
    assert picture["natural_width"] == PNG_SIZE[0]

    shot = save_artifact(browser, "uploads-done.png")
    publish_screenshot(shot)


def test_signer_refusal_is_shown_in_words(browser, stack: Stack, files) -> None:
    (row,) = upload_on_page(browser, stack, [files["txt"]])
    assert row["state"] == "error"
    assert row["error_code"] == "mime_not_allowed"
    assert "text/plain" in row["text"]  # the signer's own message, naming the refused type
    save_artifact(browser, "signer-refusal.png")


def test_origin_missing_from_cors_is_explained(browser, make_stack, files) -> None:
    other = f"http://localhost:{free_port()}"
    stack = make_stack(cors_origin=other)
    before = stack.uploaded()

    (row,) = upload_on_page(browser, stack, [files["png"]])

    assert row["state"] == "error", row
    assert row["error_code"] == "cors_rejected", f"{row}\n{console(browser)}"
    assert "CORS_ALLOWED_ORIGINS" in row["text"]
    assert stack.url in row["text"]  # names the origin to add
    assert "blocked by CORS policy" in console(browser)  # Chromium agrees on the cause
    assert stack.uploaded() == before
    save_artifact(browser, "cors-rejected.png")


def test_unreachable_storage_host_is_explained(browser, stack: Stack, make_stack, files) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    elsewhere = make_stack(public_endpoint=dead, minio=stack.minio)

    (row,) = upload_on_page(browser, elsewhere, [files["png"]])

    assert row["state"] == "error", row
    assert row["error_code"] == "storage_unreachable", f"{row}\n{console(browser)}"
    assert f"Cannot reach storage at {dead}" in row["text"]
    save_artifact(browser, "storage-unreachable.png")
