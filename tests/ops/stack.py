"""Talking to a test stack the way an operator and a client would: the CLI, .env, HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from dotenv import dotenv_values
from minio.error import MinioAdminException, S3Error

from bootstrap.rotation.checks import Server
from bootstrap.s3 import error_code
from bootstrap.settings import Credentials
from tests.minio_server import ROOT

CLI = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "minio-stack"
if not CLI.exists():
    CLI = ROOT / ".venv" / "bin" / "minio-stack"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def refusal(server: Server, creds: Credentials) -> str | None:
    """None when the server accepts ``creds``, else its error code (asked independently)."""
    try:
        server.clients(creds).admin.account_info()
    except (MinioAdminException, S3Error) as exc:
        return error_code(exc)
    return None


def sha256_of_everything(server: Server, root: Credentials) -> dict[str, str]:
    """bucket/key → sha256 of the bytes, for every object the root user sees."""
    s3 = server.clients(root).s3
    digests: dict[str, str] = {}
    for bucket in s3.list_buckets():
        for obj in s3.list_objects(bucket.name, recursive=True):
            resp = s3.get_object(bucket.name, obj.object_name)
            try:
                digests[f"{bucket.name}/{obj.object_name}"] = hashlib.sha256(
                    resp.read()
                ).hexdigest()
            finally:
                resp.close()
                resp.release_conn()
    return digests


@dataclass
class NativeStack:
    home: Path
    env: dict[str, str]

    @property
    def env_file(self) -> Path:
        return self.home / ".env"

    @property
    def journal(self) -> Path:
        return self.home / ".env.rotate-root.json"

    @property
    def signer_state(self) -> Path:
        return self.home / ".env.signer-key.json"

    def url(self, which: str) -> str:
        return f"http://127.0.0.1:{self.env[f'STACK_{which}_PORT']}"

    @property
    def server(self) -> Server:
        return Server(self.url("API"), "us-east-1")

    def run(
        self, *args: str, timeout: float = 300, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            cwd=self.home,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_json(
        self, *args: str, **extra: str
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        result = self.run(*args, "--json", **extra)
        assert result.stdout.strip(), result.stderr
        return result, json.loads(result.stdout)

    def config(self) -> dict[str, str]:
        return {k: v or "" for k, v in dotenv_values(self.env_file).items()}

    def root(self) -> Credentials:
        c = self.config()
        return Credentials(c["MINIO_ROOT_USER"], c["MINIO_ROOT_PASSWORD"])

    def signer_keys(self) -> Credentials:
        c = self.config()
        return Credentials(c["SIGNER_ACCESS_KEY"], c["SIGNER_SECRET_KEY"])

    def _auth(self) -> dict[str, str]:
        token = self.config()["SIGNER_API_TOKENS"].split(",")[0]
        return {"Authorization": f"Bearer {token}"}

    def upload_via_signer(self, body: bytes) -> str:
        """Presign, PUT, complete: the client flow. Returns the object key."""
        signer = self.url("SIGNER")
        resp = requests.post(
            f"{signer}/v1/uploads/presign",
            json={"content_type": "text/plain", "size_bytes": len(body)},
            headers=self._auth(),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        intent = resp.json()
        upload = intent["upload"]
        put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
        assert put.status_code == 200, put.text
        done = requests.post(
            f"{signer}/v1/uploads/complete",
            json={"intent_token": intent["intent_token"]},
            headers=self._auth(),
            timeout=10,
        )
        assert done.status_code == 200, done.text
        return intent["object_key"]

    def download_url(self, key: str) -> str:
        """A presigned GET URL from the running signer."""
        resp = requests.post(
            f"{self.url('SIGNER')}/v1/downloads/presign",
            json={"object_key": key},
            headers=self._auth(),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["url"]


def signed_by(url: str) -> str:
    """The access key in a presigned URL's X-Amz-Credential."""
    from urllib.parse import parse_qs, urlsplit

    credential = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    return credential.split("/")[0]


def secrets_absent(text: str, *values: str) -> bool:
    return all(v and v not in text for v in values)
