"""A client of the signer's HTTP API that moves the bytes straight to storage.

``upload_file``: presign → PUT (one request, or the parts in parallel threads) → complete →
check the stored size. A failed part is retried with backoff (tenacity); when storage answers
403 (most often: the part URL expired during a long upload) the part is re-signed through
``/v1/uploads/parts`` before the next try. ``download_file``: presign a GET, stream it to a
temporary file beside the target, check the length, then rename, so a failed download never
leaves a half-written file under the target's name. Progress bars go to stderr (tqdm).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from tqdm import tqdm

from common.errors import ExitCode, PermanentError, StackError
from signer.settings import ClientSettings

DEFAULT_CONCURRENCY = 4
PART_ATTEMPTS = 4
CHUNK = 256 * 1024  # download reads
# A single PUT's body goes out in blocks this large; each moves the progress bar.
SEND_BLOCK = 1024 * 1024
DEFAULT_TIMEOUT = 60.0
# Codes that mean the request itself (or the token) was wrong: exit 2, like bad options.
_CONFIG_CODES = frozenset({"unauthorized", "bad_request", "mime_not_allowed", "size_too_large"})


class ApiError(StackError):
    """The signer refused: its error body's code, message and hint."""

    def __init__(
        self, code: str, message: str, hint: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(f"signer: {message}", hint)
        self.code = code
        self.status = status
        self.exit_code = ExitCode.CONFIG if code in _CONFIG_CODES else ExitCode.FAILED


class TransferError(PermanentError):
    """Storage refused the bytes, or what arrived is not what was sent."""


class _Retry(Exception):
    """A part failed in a way worth another try; ``resign`` when its URL must be renewed."""

    def __init__(self, message: str, *, resign: bool = False) -> None:
        super().__init__(message)
        self.resign = resign


def _storage_refusal(answer: requests.Response) -> str:
    code = ""
    text = answer.text[:2000]
    if "<Code>" in text:
        code = text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return f"storage answered {answer.status_code}" + (f" {code}" if code else "")


class SignerClient:
    """POSTs JSON to the signer with the bearer token; raises ApiError with its error body."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = settings.signer_url.rstrip("/")
        self._token = settings.api_token
        self.timeout = timeout
        self.http = session or requests.Session()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {name: value for name, value in body.items() if value is not None}
        try:
            answer = self.http.post(
                f"{self.base_url}{path}",
                json=payload,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise StackError(
                f"cannot reach the signer at {self.base_url} ({type(exc).__name__})",
                hint="check --signer-url / SIGNER_URL and that the signer is running",
            ) from None
        try:
            data = answer.json()
        except ValueError:
            data = None
        if answer.status_code == 200 and isinstance(data, dict):
            return data
        if isinstance(data, dict) and "code" in data and "message" in data:
            raise ApiError(data["code"], data["message"], data.get("hint"), answer.status_code)
        raise ApiError(
            "bad_answer",
            f"unexpected HTTP {answer.status_code} from {self.base_url}{path}",
            hint="is --signer-url the signer's address?",
            status=answer.status_code,
        )

    def presign(self, **fields: Any) -> dict[str, Any]:
        return self.post("/v1/uploads/presign", fields)

    def parts(self, intent_token: str, part_numbers: list[int]) -> list[dict[str, Any]]:
        answer = self.post(
            "/v1/uploads/parts", {"intent_token": intent_token, "part_numbers": part_numbers}
        )
        parts: list[dict[str, Any]] = answer["parts"]
        return parts

    def refresh(self, intent_token: str) -> str:
        """A renewed intent token for the same upload (tokens live minutes, uploads longer)."""
        token: str = self.post("/v1/uploads/refresh", {"intent_token": intent_token})[
            "intent_token"
        ]
        return token

    def complete(
        self, intent_token: str, parts: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        return self.post("/v1/uploads/complete", {"intent_token": intent_token, "parts": parts})

    def abort(self, intent_token: str) -> dict[str, Any]:
        return self.post("/v1/uploads/abort", {"intent_token": intent_token})

    def presign_download(self, object_key: str, **fields: Any) -> dict[str, Any]:
        return self.post("/v1/downloads/presign", {"object_key": object_key, **fields})


class _FileBody:
    """A whole file for a single PUT, streamed with its length known (no chunked encoding:
    storage checks the signed Content-Length), in SEND_BLOCK blocks, each reported to
    ``on_bytes``. It has no ``read``: urllib3 would then pull 16 KiB at a time."""

    def __init__(self, path: Path, length: int, on_bytes: Callable[[int], None]) -> None:
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed after the request
        self._length = length
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        left = self._length
        while left > 0 and (block := self._file.read(min(SEND_BLOCK, left))):
            left -= len(block)
            self._on_bytes(len(block))
            yield block

    def close(self) -> None:
        self._file.close()


def _read_part(path: Path, offset: int, length: int) -> bytes:
    """One part's bytes, read once: it goes out in one send (and again as is on a retry), so
    an upload holds at most part_size x concurrency bytes."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    if len(data) != length:
        raise TransferError(
            f"{path} is shorter than it was when the upload started",
            hint="the file changed during the upload? upload it again",
        )
    return data


@dataclass
class _PartUrls:
    """Part URLs from the presign, then more from the signer in batches, as workers need them."""

    client: SignerClient
    intent_token: str
    part_count: int
    known: dict[int, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    batch: int = 50

    def get(self, number: int, *, fresh: bool = False) -> dict[str, Any]:
        with self.lock:
            if fresh:
                self.known.pop(number, None)
            if number not in self.known:
                wanted = [number] + [
                    n
                    for n in range(number + 1, min(self.part_count, number + self.batch - 1) + 1)
                    if n not in self.known
                ]
                for part in self._signed(wanted):
                    self.known[part["part_number"]] = part
            return self.known[number]

    def _signed(self, wanted: list[int]) -> list[dict[str, Any]]:
        try:
            return self.client.parts(self.intent_token, wanted)
        except ApiError as exc:
            if exc.code != "signature_invalid" or "expired" not in str(exc):
                raise
        # The intent token outlived its minutes during a long upload: renew it, once.
        self.intent_token = self.client.refresh(self.intent_token)
        return self.client.parts(self.intent_token, wanted)


def _put(
    http: requests.Session, url: str, headers: dict[str, str], body: _FileBody, timeout: float
) -> requests.Response:
    try:
        return http.put(url, data=body, headers=headers, timeout=timeout)
    finally:
        body.close()


def guess_content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def sha256_base64(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def _bar(total: int, label: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
    )


def upload_file(
    client: SignerClient,
    path: Path,
    *,
    content_type: str | None = None,
    profile: str | None = None,
    multipart: str = "auto",
    key_base: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = False,
) -> dict[str, Any]:
    """Upload ``path`` through the signer; the complete answer (object_key, get_url, ...)."""
    size = path.stat().st_size
    content_type = content_type or guess_content_type(path)
    request: dict[str, Any] = {
        "filename": path.name,
        "content_type": content_type,
        "size_bytes": size,
        "profile": profile,
        "key_base": key_base,
        "multipart": multipart,
    }
    # A file that will go up in one PUT gets its SHA-256 signed in: storage then refuses
    # bytes that changed on the way (or on disk since).
    if multipart == "off" or (multipart == "auto" and size < 16 * 1024 * 1024):
        request["checksum_sha256"] = sha256_base64(path)
    try:
        intent = client.presign(**request)
    except ApiError as exc:
        if "checksum_sha256" not in request or "multipart" not in exc.message:
            raise
        del request["checksum_sha256"]  # the profile's threshold made it multipart
        intent = client.presign(**request)
    with _bar(size, path.name, progress) as bar:
        if intent["strategy"] == "single":
            _upload_single(client, path, intent, bar)
            result = client.complete(intent["intent_token"])
        else:
            parts = _upload_parts(client, path, intent, bar, concurrency)
            result = client.complete(intent["intent_token"], parts)
    if result.get("size_bytes") != size:
        raise TransferError(
            f"storage holds {result.get('size_bytes')} bytes for {result.get('object_key')}, "
            f"but {path} has {size}",
            hint="the file changed during the upload? upload it again",
        )
    return {**result, "strategy": intent["strategy"]}


def _retrying() -> Retrying:
    return Retrying(
        stop=stop_after_attempt(PART_ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=8),
        retry=retry_if_exception_type(_Retry),
        reraise=True,
    )


def _upload_single(client: SignerClient, path: Path, intent: dict[str, Any], bar: tqdm) -> None:
    """One PUT, retried like a part when storage is busy (503 SlowDown) or the link drops."""
    upload = intent["upload"]
    size = int(upload["headers"].get("Content-Length", path.stat().st_size))
    try:
        for attempt in _retrying():
            with attempt:
                retried = attempt.retry_state.attempt_number > 1
                if retried:
                    bar.reset()
                body = _FileBody(path, size, bar.update)
                try:
                    answer = _put(
                        client.http, upload["url"], upload["headers"], body, client.timeout
                    )
                except requests.RequestException as exc:
                    raise _Retry(f"the upload to storage failed ({type(exc).__name__})") from None
                if answer.status_code == 200:
                    return
                if answer.status_code == 412 and retried:
                    # An earlier try landed but its answer was lost (If-None-Match: * refuses a
                    # second write); complete then checks the object is this intent's own.
                    return
                if answer.status_code == 501:
                    raise TransferError(
                        f"{_storage_refusal(answer)} to the upload of {path.name}",
                        hint="storage cannot do the server-side encryption this profile "
                        "requires (MinIO needs a KMS for it); ask the operator, or use "
                        "another profile",
                    )
                if answer.status_code >= 500 or answer.status_code == 429:
                    raise _Retry(f"{_storage_refusal(answer)} to the upload of {path.name}")
                raise TransferError(
                    f"{_storage_refusal(answer)} to the upload of {path.name}",
                    hint="the URL expired, or the file changed since it was presigned; try again",
                )
    except _Retry as exc:
        raise TransferError(
            f"{exc} (after {PART_ATTEMPTS} tries)",
            hint="check that SIGNER_PUBLIC_ENDPOINT is reachable from here and storage is up",
        ) from None


def _upload_parts(
    client: SignerClient, path: Path, intent: dict[str, Any], bar: tqdm, concurrency: int
) -> list[dict[str, Any]]:
    upload = intent["upload"]
    part_size, part_count = upload["part_size"], upload["part_count"]
    size = path.stat().st_size
    urls = _PartUrls(client, intent["intent_token"], part_count)
    for part in upload["parts"]:
        urls.known[part["part_number"]] = part
    bar_lock = threading.Lock()

    def count(n: int) -> None:
        with bar_lock:
            bar.update(n)

    def send(number: int) -> dict[str, Any]:
        offset = (number - 1) * part_size
        length = min(part_size, size - offset)
        data = _read_part(path, offset, length)
        resign = False
        for attempt in _retrying():
            with attempt:
                part = urls.get(number, fresh=resign)
                try:
                    answer = client.http.put(
                        part["url"], data=data, headers=part["headers"], timeout=client.timeout
                    )
                except requests.RequestException as exc:
                    raise _Retry(f"part {number}: {type(exc).__name__}") from None
                if answer.status_code == 200:
                    count(length)  # progress moves a whole part at a time
                    return {"part_number": number, "etag": answer.headers.get("ETag", "")}
                reason = f"part {number}: {_storage_refusal(answer)}"
                if answer.status_code == 403:
                    resign = True
                    raise _Retry(reason, resign=True)
                if answer.status_code >= 500 or answer.status_code == 429:
                    raise _Retry(reason)
                raise TransferError(reason, hint="storage refused the part; start over")
        raise AssertionError("unreachable: tenacity re-raises the last error")

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, part_count))) as pool:
            return list(pool.map(send, range(1, part_count + 1)))
    except _Retry as exc:
        raise TransferError(
            f"{exc} (after {PART_ATTEMPTS} tries)", hint="storage kept refusing; try again later"
        ) from None


def download_file(
    client: SignerClient,
    object_key: str,
    destination: Path | None,
    *,
    progress: bool = False,
    out: IO[bytes] | None = None,
) -> dict[str, Any]:
    """Download ``object_key`` to ``destination`` (or to ``out``); what was written."""
    filename = object_key.rsplit("/", 1)[-1]
    signed = client.presign_download(object_key, filename=filename, disposition="attachment")
    try:
        answer = client.http.get(signed["url"], stream=True, timeout=client.timeout)
    except requests.RequestException as exc:
        raise TransferError(
            f"the download from storage failed ({type(exc).__name__})",
            hint="check that SIGNER_PUBLIC_ENDPOINT is reachable from here",
        ) from None
    with answer:
        if answer.status_code != 200:
            raise TransferError(f"{_storage_refusal(answer)} to the download of {object_key}")
        expected = int(answer.headers.get("Content-Length", "-1"))
        written = 0
        with _bar(max(expected, 0), filename, progress) as bar:
            if out is not None:
                for chunk in answer.iter_content(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
                out.flush()
            else:
                assert destination is not None
                directory = destination.parent
                fd, temp = tempfile.mkstemp(prefix=f".{destination.name}.", dir=directory)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        for chunk in answer.iter_content(CHUNK):
                            handle.write(chunk)
                            written += len(chunk)
                            bar.update(len(chunk))
                    if expected >= 0 and written != expected:
                        raise TransferError(
                            f"received {written} of {expected} bytes of {object_key}",
                            hint="the connection dropped; download again",
                        )
                    os.replace(temp, destination)
                except BaseException:
                    Path(temp).unlink(missing_ok=True)
                    raise
    return {
        "object_key": object_key,
        "path": str(destination) if destination else "-",
        "size_bytes": written,
    }
