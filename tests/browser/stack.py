"""The parts of a browser test's world: MinIO converged by bootstrap, the signer (demo page on)
under uvicorn in a thread, test files, and screenshots.

The page is served from the signer's origin (http://127.0.0.1:SIGNER_PORT) and storage is
another origin (another port), so every upload goes through a real CORS preflight.
"""

from __future__ import annotations

import secrets
import shutil
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from bootstrap.converge import run as converge
from bootstrap.settings import load as load_bootstrap
from harness.minio_server import ROOT, MinioServer
from signer.app import create_app
from signer.settings import Settings
from signer.settings import load as load_signer

ARTIFACTS = ROOT / "test-artifacts" / "browser"
README_SCREENSHOT = ROOT / "docs" / "demo.png"
BUCKET = "uploads"
UPLOAD_PREFIX = "uploads/"
SERVER_START_SECONDS = 15
# The presign answer carries this many part URLs; the page asks /v1/uploads/parts for the rest,
# so a 4-part upload exercises both.
INITIAL_PARTS = 2
WINDOW_SIZE = (900, 760)
MAX_SCREENSHOT_HEIGHT = 1600
# Small parts so a 20 MiB file is a real multipart upload (4 parts of 5 MiB, S3's minimum).
POLICY_YAML = """\
default_profile: default
profiles:
  default:
    mime_types:
      image/png: png
      application/octet-stream: bin
    size_max: 64MiB
    multipart_threshold: 8MiB
    part_size: 5MiB
"""


@dataclass
class Stack:
    minio: MinioServer
    signer: Settings
    url: str  # the signer's origin, where the page lives

    def uploaded(self) -> list[str]:
        """Keys under the profile's prefix (the signer keeps its own records elsewhere)."""
        found = self.minio.client().list_objects(BUCKET, prefix=UPLOAD_PREFIX, recursive=True)
        return [o.object_name for o in found]


class SignerThread:
    """The signer app under uvicorn in a thread, on its SIGNER_LISTEN address."""

    def __init__(self, settings: Settings, initial_parts: int) -> None:
        config = uvicorn.Config(
            create_app(settings, initial_parts=initial_parts),
            host=settings.listen_host,
            port=settings.listen_port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="signer", daemon=True)

    def start(self) -> SignerThread:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the signer did not start (see the captured log)")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(SERVER_START_SECONDS)


def bootstrap(minio: MinioServer, origins: str, signer_key: str, signer_secret: str) -> None:
    """Converge MinIO the way a deployment does: bucket, CORS, the signer's identity."""
    settings = load_bootstrap(
        {
            "MINIO_ENDPOINT": minio.endpoint,
            "MINIO_ROOT_USER": minio.access_key,
            "MINIO_ROOT_PASSWORD": minio.secret_key,
            "MINIO_BUCKET": BUCKET,
            "CORS_ALLOWED_ORIGINS": origins,
            "SIGNER_ACCESS_KEY": signer_key,
            "SIGNER_SECRET_KEY": signer_secret,
        }
    )
    report = converge(settings)
    assert report.ok, f"bootstrap failed:\n{report}"


def signer_settings(
    minio: MinioServer, port: int, policy_file: Path, key: str, secret: str, **extra: str
) -> Settings:
    return load_signer(
        {
            "SIGNER_S3_ENDPOINT": minio.endpoint,
            "SIGNER_ACCESS_KEY": key,
            "SIGNER_SECRET_KEY": secret,
            "MINIO_BUCKET": BUCKET,
            "SIGNER_API_TOKENS": secrets.token_hex(16),
            "SIGNER_TOKEN_SECRETS": secrets.token_hex(32),
            "SIGNER_POLICY_FILE": str(policy_file),
            "SIGNER_LISTEN": f"127.0.0.1:{port}",
            "SIGNER_RATE_LIMIT": "0",
            "SIGNER_DEMO": "true",
            **extra,
        }
    )


def png(width: int, height: int) -> bytes:
    """A real RGB PNG of a smooth gradient, stored uncompressed so its size is predictable."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes((x * 255 // width, y * 255 // height, 190))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 0))
        + chunk(b"IEND", b"")
    )


def save_artifact(driver, name: str) -> Path:
    """A screenshot of the whole page (the window grown to fit it) in test-artifacts/browser/."""
    width, height = driver.execute_script(
        "return [window.outerWidth, document.documentElement.scrollHeight"
        " + window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(width, min(height, MAX_SCREENSHOT_HEIGHT))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    driver.set_window_size(*WINDOW_SIZE)
    return path


def publish_screenshot(source: Path, target: Path = README_SCREENSHOT) -> None:
    """The README's picture: written once, so reruns leave the committed file alone."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
