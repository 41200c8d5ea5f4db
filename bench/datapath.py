"""Part 3 — the data path: the same file uploaded three ways, at two sizes, interleaved.

- ``signer``: ``signer.client.upload_file`` (presign → 4 parts in parallel, straight to MinIO
  with the signed part URLs → complete), the kit's own uploader;
- ``minio_py``: ``Minio.fput_object`` with credentials, same part size, 4 parallel parts;
- ``proxy``: a streaming PUT to ``bench.proxy``, which forwards the body with minio-py
  ``put_object(length=...)`` (same part size, 4 parallel parts): the design the kit replaced.

minio-py talks plain HTTP to the loopback MinIO, so it signs each part's payload: it hashes
every byte with SHA-256 in the client (over HTTPS it would send UNSIGNED-PAYLOAD and a
Content-MD5 instead). The signer's part URLs are UNSIGNED-PAYLOAD. The client CPU column shows
that cost.

For every upload: wall time (so MiB/s), the client's CPU seconds, the CPU seconds the signer
and the proxy processes spent, and the body bytes each of them received or sent for it: the
signer's API exchange (counted by the client) and the object bytes the proxy took in (counted
by the proxy; it sends the same again to storage). One unmeasured upload per method warms
every path first.
The signer's figures must not grow with the object's size; the proxy's do. Sanity: every
stored object has the size and the multipart ETag (MD5 of the parts' MD5s) of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.monitor import usage
from bench.stack import BUCKET, ROOT, Identity, SignerProcess
from bench.stats import ratio, summary
from harness.minio_server import MinioServer
from minio import Minio

MiB = 1024 * 1024
PART_SIZE = 8 * MiB  # the default profile's part size
PARALLEL = 4
CONTENT_TYPE = "application/pdf"
METHODS = ("signer", "minio_py", "proxy")
PROXY_START_TIMEOUT = 30.0
UPLOAD_TIMEOUT = 300.0


@dataclass(frozen=True)
class DataPlan:
    sizes: tuple[int, ...]  # bytes; the first is the headline size
    repeats: int


def make_file(path: Path, size: int) -> None:
    """``size`` random bytes (incompressible, so nothing on the way can cheat)."""
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            out.write(chunk)
            left -= len(chunk)


def multipart_etag(path: Path, part_size: int) -> str:
    """S3's ETag of a multipart upload of ``path``: MD5 of the parts' MD5s, dash, count."""
    digests = []
    with open(path, "rb") as handle:
        while part := handle.read(part_size):
            digests.append(hashlib.md5(part, usedforsecurity=False).digest())
    if len(digests) <= 1:
        raise ValueError("the data-path files are meant to be multipart (> 1 part)")
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


class ProxyProcess:
    """``python -m bench.proxy`` on a free 127.0.0.1 port, with root credentials on stdin."""

    def __init__(self, minio: MinioServer) -> None:
        self.config = {
            "endpoint": minio.endpoint,
            "access_key": minio.access_key,
            "secret_key": minio.secret_key,
            "bucket": BUCKET,
            "part_size": PART_SIZE,
            "parallel": PARALLEL,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the proxy is not running")
        return self.proc.pid

    def __enter__(self) -> ProxyProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.proxy"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(self.config) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], PROXY_START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("PROXY_READY "):
            self.__exit__()
            raise RuntimeError(f"the proxy did not start: {line.strip() or 'no answer'}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class ApiBytes:
    """Counts request and response body bytes between a requests.Session and the signer."""

    def __init__(self, session: requests.Session, signer_url: str) -> None:
        self.total = 0
        self._prefix = signer_url
        session.hooks["response"].append(self._count)

    def _count(self, answer: requests.Response, *args: Any, **kwargs: Any) -> None:
        if answer.url.startswith(self._prefix):
            body = answer.request.body
            self.total += len(body) if isinstance(body, bytes | str) else 0
            self.total += len(answer.content)


def _upload_signer(client: Any, path: Path) -> str:
    from signer.client import upload_file

    result = upload_file(
        client, path, content_type=CONTENT_TYPE, multipart="force", concurrency=PARALLEL
    )
    return str(result["object_key"])


def _upload_minio_py(minio: Minio, path: Path, key: str) -> str:
    minio.fput_object(
        BUCKET, key, str(path), content_type=CONTENT_TYPE, part_size=PART_SIZE,
        num_parallel_uploads=PARALLEL,
    )  # fmt: skip
    return key


def _upload_proxy(proxy: ProxyProcess, path: Path, key: str) -> tuple[str, int]:
    """(key, the bytes the proxy received and forwarded)."""
    size = path.stat().st_size
    with open(path, "rb") as body:
        answer = requests.put(
            f"{proxy.url}/{key}",
            data=body,
            headers={"Content-Type": CONTENT_TYPE, "Content-Length": str(size)},
            timeout=UPLOAD_TIMEOUT,
        )
    if answer.status_code != 200:
        raise RuntimeError(f"the proxy answered {answer.status_code}: {answer.text[:300]}")
    return key, int(answer.json()["received"])


@dataclass
class _Uploader:
    """One upload by one method, timed, with the CPU each process spent, checked in storage."""

    signer: SignerProcess
    proxy: ProxyProcess
    client: Any
    root: Any
    api_bytes: ApiBytes
    etags: dict[Path, str]
    problems: list[str]
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def upload(self, method: str, path: Path) -> dict[str, float]:
        key = f"bench/direct/{next(self.counter):04d}.pdf"
        before = (usage(self.signer.pid), usage(self.proxy.pid), self.api_bytes.total)
        started, client_cpu = time.perf_counter(), time.process_time()
        proxied = 0
        if method == "signer":
            key = _upload_signer(self.client, path)
        elif method == "minio_py":
            key = _upload_minio_py(self.root, path, key)
        else:
            key, proxied = _upload_proxy(self.proxy, path, key)
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        signer_used = usage(self.signer.pid).minus(before[0])
        proxy_used = usage(self.proxy.pid).minus(before[1])
        self._check_stored(method, key, path)
        size = path.stat().st_size
        return {
            "seconds": seconds,
            "mib_per_s": size / MiB / seconds,
            "client_cpu_s": client_cpu,
            "signer_cpu_s": signer_used.cpu_seconds,
            "signer_api_bytes": self.api_bytes.total - before[2],
            "proxy_cpu_s": proxy_used.cpu_seconds,
            "proxy_body_bytes": proxied,
        }

    def _check_stored(self, method: str, key: str, path: Path) -> None:
        size, etag = path.stat().st_size, self.etags[path]
        stored = self.root.stat_object(BUCKET, key)
        if stored.size != size or (stored.etag or "").strip('"') != etag:
            self.problems.append(
                f"{method}: stored {stored.size} bytes with ETag {stored.etag}, "
                f"expected {size} bytes with ETag {etag}"
            )
        self.root.remove_object(BUCKET, key)


def run(plan: DataPlan, minio: MinioServer, identity: Identity, workdir: Path) -> dict[str, Any]:
    from signer.client import SignerClient
    from signer.settings import ClientSettings

    problems: list[str] = []
    files: dict[int, tuple[Path, str]] = {}
    for size in plan.sizes:
        path = workdir / f"upload-{size // MiB}MiB.pdf"
        make_file(path, size)
        files[size] = (path, multipart_etag(path, PART_SIZE))
    rows: dict[int, dict[str, list[dict[str, float]]]] = {
        size: {m: [] for m in METHODS} for size in plan.sizes
    }
    with SignerProcess(minio, identity, workdir, 1) as signer, ProxyProcess(minio) as proxy:
        session = requests.Session()
        uploader = _Uploader(
            signer,
            proxy,
            SignerClient(ClientSettings(signer.url, signer.token), session=session),
            minio.client(),
            ApiBytes(session, signer.url),
            {path: etag for path, etag in files.values()},
            problems,
        )
        _measure(plan, files, rows, uploader)
    for path, _ in files.values():
        path.unlink(missing_ok=True)
    return {
        "part_size": PART_SIZE,
        "parallel": PARALLEL,
        **_summarise(rows),
        "notes": [
            "minio-py speaks plain HTTP here, so it SHA-256-hashes every part in the client to "
            "sign the payload (over HTTPS it would send UNSIGNED-PAYLOAD plus Content-MD5); the "
            "signer's part URLs are UNSIGNED-PAYLOAD: see the client CPU column.",
            "The signer's CPU and API bytes grow with the number of parts (one URL each, and "
            "the parts list of the complete), never with the bytes: those go to MinIO.",
        ],
        "problems": problems,
    }


def _measure(
    plan: DataPlan,
    files: dict[int, tuple[Path, str]],
    rows: dict[int, dict[str, list[dict[str, float]]]],
    uploader: _Uploader,
) -> None:
    """A warm-up upload per method, then the rounds, rotating which method goes first."""
    smallest = files[plan.sizes[-1]][0]
    for method in METHODS:
        try:
            uploader.upload(method, smallest)
        except Exception as exc:  # noqa: BLE001 - reported, and the run fails
            uploader.problems.append(f"warm-up {method} upload: {type(exc).__name__}: {exc}")
    for size in plan.sizes:
        for repeat in range(plan.repeats):
            shift = repeat % len(METHODS)
            for method in METHODS[shift:] + METHODS[:shift]:
                try:
                    rows[size][method].append(uploader.upload(method, files[size][0]))
                except Exception as exc:  # noqa: BLE001 - reported, and the run fails
                    uploader.problems.append(f"{method} upload of {size} bytes: {exc}")


def _summarise(rows: dict[int, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for size, methods in rows.items():
        by_method: dict[str, Any] = {}
        for method, runs in methods.items():
            if runs:
                by_method[method] = {field: summary([r[field] for r in runs]) for field in runs[0]}
        entry: dict[str, Any] = {"bytes": size, "methods": by_method}
        if "signer" in by_method and "minio_py" in by_method:
            # Per repeat: both uploads ran back to back.
            pairs = zip(methods["signer"], methods["minio_py"], strict=False)
            entry["signer_over_minio_py"] = summary(
                [s["mib_per_s"] / m["mib_per_s"] for s, m in pairs]
            )
        if "proxy" in by_method and "minio_py" in by_method:
            entry["proxy_over_minio_py"] = summary(
                [
                    p["mib_per_s"] / m["mib_per_s"]
                    for p, m in zip(methods["proxy"], methods["minio_py"], strict=False)
                ]
            )
        sizes[str(size)] = entry
    ordered = list(rows)
    growth: dict[str, Any] = {}
    if len(ordered) >= 2:
        big, small = str(ordered[0]), str(ordered[-1])
        for who, method in (("signer", "signer"), ("proxy", "proxy")):
            try:
                a = sizes[big]["methods"][method][f"{who}_cpu_s"]["median"]
                b = sizes[small]["methods"][method][f"{who}_cpu_s"]["median"]
                growth[f"{who}_cpu_big_over_small"] = ratio(a, b)
            except KeyError:
                continue
        growth["size_big_over_small"] = ordered[0] / ordered[-1]
    return {"sizes": sizes, "growth": growth}


def profile(
    minio: MinioServer, identity: Identity, workdir: Path, size: int, seconds: float
) -> list[Any]:
    """pyinstrument of this process uploading through the signer (the client's side)."""
    from bench.profiling import Profile, profile_calls
    from signer.client import SignerClient
    from signer.settings import ClientSettings

    path = workdir / "profile-upload.pdf"
    make_file(path, size)
    found: list[Profile] = []
    try:
        with SignerProcess(minio, identity, workdir, 1) as signer:
            client = SignerClient(ClientSettings(signer.url, signer.token))
            found.append(
                profile_calls(
                    "datapath-signer_client", lambda: _upload_signer(client, path), seconds, batch=1
                )
            )
    finally:
        path.unlink(missing_ok=True)
    return found
