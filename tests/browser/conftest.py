"""Fixtures for the browser tests: headless Chromium through Debian's chromedriver, and stacks
(MinIO converged by bootstrap + the signer with its demo page on). See stack.py."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.minio_server import MinioServer, free_port
from tests.browser.stack import (
    INITIAL_PARTS,
    POLICY_YAML,
    WINDOW_SIZE,
    SignerThread,
    Stack,
    bootstrap,
    signer_settings,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
        "--hide-scrollbars",
        # Nothing but the test's own servers: no update checks, sync or component downloads.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
    ):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium then never runs selenium-manager (no downloads).
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def make_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Stack]]:
    """Start stacks: ``make_stack(cors_origin=None, public_endpoint=None, minio=None)``.

    ``cors_origin`` is the origin storage allows (default: the signer's own, so uploads work);
    ``minio`` reuses an already converged server; ``public_endpoint`` is the storage URL the
    signer signs for (default: the real one).
    """
    started: list[MinioServer | SignerThread] = []
    base = tmp_path_factory.mktemp("browser-stack")
    policy_file = base / "policy.yaml"
    policy_file.write_text(POLICY_YAML)
    key, secret = "signer-browser", secrets.token_urlsafe(18)

    def make(
        cors_origin: str | None = None,
        public_endpoint: str | None = None,
        minio: MinioServer | None = None,
    ) -> Stack:
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        if minio is None:
            n = len(started)
            minio = MinioServer(data_dir=base / f"minio-{n}", log_path=base / f"minio-{n}.log")
            started.append(minio.start())
            bootstrap(minio, cors_origin or origin, key, secret)
        extra = {"SIGNER_PUBLIC_ENDPOINT": public_endpoint} if public_endpoint else {}
        settings = signer_settings(minio, port, policy_file, key, secret, **extra)
        started.append(SignerThread(settings, INITIAL_PARTS).start())
        return Stack(minio=minio, signer=settings, url=origin)

    yield make
    for thing in reversed(started):
        thing.stop()


@pytest.fixture(scope="module")
def stack(make_stack: Callable[..., Stack]) -> Stack:
    """Storage allows the signer's origin: uploads from the demo page work."""
    return make_stack()
