"""The rotation tests' view of a test stack: journals, signer keys, what the server answers."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path
from typing import Any, ClassVar

from minio.error import MinioAdminException, S3Error

from bootstrap.s3 import error_code
from bootstrap.settings import Credentials
from common.s3vocab import PROBES_PREFIX
from rotation.checks import Server
from tests.native_stack import LocalStack


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
    """bucket/key → sha256 of the bytes, for every object the root user sees (but the kit's
    probes: a restarted stack re-runs bootstrap while the test reads, so a probe may be listed
    and gone when read)."""
    s3 = server.clients(root).s3
    digests: dict[str, str] = {}
    for bucket in s3.list_buckets():
        for obj in s3.list_objects(bucket.name, recursive=True):
            if (obj.object_name or "").startswith(PROBES_PREFIX):
                continue
            resp = s3.get_object(bucket.name, obj.object_name)
            try:
                digests[f"{bucket.name}/{obj.object_name}"] = hashlib.sha256(
                    resp.read()
                ).hexdigest()
            finally:
                resp.close()
                resp.release_conn()
    return digests


class NativeStack(LocalStack):
    run_timeout: ClassVar[float] = 300

    @property
    def journal(self) -> Path:
        return self.home / ".env.rotate-root.json"

    @property
    def signer_state(self) -> Path:
        return self.home / ".env.signer-key.json"

    def run_json(
        self, *args: str, fault: str | None = None, **extra: str
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """The command with --json, and its report; ``fault``: through harness/faulty_cli.py."""
        if fault is None:
            result = self.run(*args, "--json", **extra)
        else:
            result = self.run_with_fault(fault, *args, "--json", **extra)
        assert result.stdout.strip(), result.stderr
        return result, json.loads(result.stdout)

    def signer_keys(self) -> Credentials:
        c = self.config()
        return Credentials(c["SIGNER_ACCESS_KEY"], c["SIGNER_SECRET_KEY"])


def signed_by(url: str) -> str:
    """The access key in a presigned URL's X-Amz-Credential."""
    from urllib.parse import parse_qs, urlsplit

    credential = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    return credential.split("/")[0]


def secrets_absent(text: str, *values: str) -> bool:
    return all(v and v not in text for v in values)
