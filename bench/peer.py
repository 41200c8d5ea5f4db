"""The peer: Uppy Companion (``@uppy/companion`` on npm, Node.js, AWS SDK v3), what many teams
deploy to presign direct-to-S3 uploads, run on this machine against the bench's MinIO.

``bench/peer/`` is a small npm project (``package.json`` and ``package-lock.json`` pin the
version; ``node_modules/`` is not committed): ``companion.mjs`` mounts Companion's express app
in a plain express server, as its documentation shows, with the bench's bucket-scoped identity.
The bench installs it with ``npm ci`` on first use.

What each side signs, so the table can say it: Companion's ``GET /s3/params`` answers a
presigned POST form for the key ``getKey`` picks (its default: a random id + the file name)
whose policy holds the bucket, the key, ``success_action_status`` and the ``content-type``
field, with no size condition unless configured. The signer's ``POST /v1/uploads/presign``
also checks the bearer token, the MIME allowlist and the size, and answers a PUT URL signing
Content-Type, Content-Length, If-None-Match and the intent header, an ES256 intent token and a
presigned GET URL.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from bench import loadgen
from bench.stack import BUCKET, Identity
from harness.minio_server import MinioServer, free_port
from harness.processes import answers_ok, start_answering, stop_process

PEER_DIR = Path(__file__).resolve().parent / "peer"
PACKAGE = "@uppy/companion"
PARAMS_PATH = "/s3/params?filename=bench.png&type=image%2Fpng"
START_TIMEOUT = 60.0
INSTALL_TIMEOUT = 600.0


def version() -> str | None:
    """The installed Companion's version (from its package.json), or None."""
    path = PEER_DIR / "node_modules" / PACKAGE / "package.json"
    try:
        return str(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_installed() -> str | None:
    """None when Companion can run here; else the reason it cannot (the report shows it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js (node and npm) is not installed: apt-get install -y nodejs npm"
    if version() is None:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or version() is None:
            return f"npm ci in {PEER_DIR} failed: {done.stderr.strip()[-400:]}"
    return None


class CompanionProcess:
    """``node bench/peer/companion.mjs`` on a free 127.0.0.1 port; ``.url``, ``.pid``."""

    def __init__(self, minio: MinioServer, identity: Identity, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir = workdir / "companion-data"
        data_dir.mkdir(exist_ok=True)
        self.log_path = workdir / f"companion-{self.port}.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(workdir)),
            "NODE_ENV": "production",
            "PEER_PORT": str(self.port),
            "PEER_S3_ENDPOINT": minio.endpoint,
            "PEER_S3_KEY": identity.access_key,
            "PEER_S3_SECRET": identity.secret_key,
            "PEER_S3_BUCKET": BUCKET,
            "PEER_S3_REGION": "us-east-1",
            "PEER_DATA_DIR": str(data_dir),
            "PEER_SECRET": secrets.token_hex(32),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("companion is not running")
        return self.proc.pid

    def __enter__(self) -> CompanionProcess:
        node = shutil.which("node") or "node"
        self.proc = start_answering(
            [node, str(PEER_DIR / "companion.mjs")],
            self.log_path,
            lambda: answers_ok(f"{self.url}/healthz"),
            what="companion",
            timeout=START_TIMEOUT,
            env=self.env,
            cwd=PEER_DIR,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, grace=10, kill_group=True)


def sanity(peer: CompanionProcess) -> list[str]:
    """One real upload through Companion's answer (the form POSTed to MinIO)."""
    try:
        answer = requests.get(peer.url + PARAMS_PATH, timeout=10)
        if answer.status_code != 200:
            return [f"companion /s3/params answered {answer.status_code}: {answer.text[:300]}"]
        form = answer.json()
        posted = requests.post(
            form["url"],
            data=form["fields"],
            files={"file": ("bench.png", b"\x89PNG" + bytes(1020), "image/png")},
            timeout=10,
        )
        if posted.status_code not in (200, 201, 204):
            return [f"MinIO refused companion's form: {posted.status_code} {posted.text[:300]}"]
    except (requests.RequestException, KeyError, ValueError) as exc:
        return [f"companion round trip failed: {type(exc).__name__}: {exc}"]
    return []


def job(peer: CompanionProcess, connections: int, duration: float) -> loadgen.Job:
    return loadgen.Job(
        url=peer.url + PARAMS_PATH,
        body="",
        headers={},
        connections=connections,
        duration=duration,
        method="GET",
    )


def describe() -> dict[str, Any]:
    return {
        "name": "Uppy Companion",
        "package": PACKAGE,
        "version": version(),
        "route": "GET " + PARAMS_PATH,
        "signs": "a POST policy: bucket, key, content-type field, success_action_status",
        "ours_signs": "a PUT URL (Content-Type, Content-Length, If-None-Match, intent header), "
        "an ES256 intent token and a GET URL, after token, MIME and size checks",
    }


def wait_idle(seconds: float = 0.5) -> None:
    """A moment between contenders, so one's tail does not overlap the next one's start."""
    time.sleep(seconds)
