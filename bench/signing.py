"""Part 1 — the signing core: presigned single-PUT URLs per second, in this one process.

Contenders, same credentials, bucket, region and object keys, rounds interleaved (each round
times every contender once, in a rotating order) so a noisy moment hits them all:

- ``signer_signed_headers``: ``presign_url`` signing Content-Type, Content-Length and
  If-None-Match, as the signer's single-PUT answer does;
- ``signer_host_only``: ``presign_url`` signing only ``host``, like for like with minio-py;
- ``minio_py``: ``Minio.presigned_put_object`` (region set, so no network call: the endpoint
  is a closed port, and any call would fail the run);
- ``hmac_floor``: one HMAC-SHA256 of a string-to-sign with a cached signing key.

Each call also reads the clock, as a request would (minio-py reads it inside).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.profiling import Profile, profile_calls
from bench.stats import ratio, summary
from minio import Minio
from signer.core.sigv4 import presign_url, scope, signing_key, string_to_sign

ACCESS_KEY = "bench-signer-0001"
SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmn"  # noqa: S105 - a throwaway bench key
REGION = "us-east-1"
BUCKET = "uploads"
EXPIRES = 900
KEY_COUNT = 512  # a power of two: the loop picks keys with a mask
SIGNED_HEADERS = {
    "Content-Type": "image/png",
    "Content-Length": "1048576",
    "If-None-Match": "*",
}
CONTENDERS = ("signer_signed_headers", "signer_host_only", "minio_py", "hmac_floor")


@dataclass(frozen=True)
class SigningPlan:
    rounds: int
    round_seconds: float  # per contender per round


def object_keys(count: int = KEY_COUNT) -> list[str]:
    """Keys shaped like the signer's default template: uploads/yyyy/mm/<ULID>.png."""
    return [f"uploads/2026/01/01J{n:023d}.png" for n in range(count)]


def contenders(endpoint: str) -> dict[str, Callable[[str], str]]:
    """The functions timed, each taking an object key and returning a URL or signature."""
    client = Minio(
        endpoint.split("://", 1)[1],
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=False,
        region=REGION,
    )
    expires = timedelta(seconds=EXPIRES)
    now = datetime.now(UTC)
    date = now.strftime("%Y%m%d")
    key = signing_key(SECRET_KEY, date, REGION, "s3")
    typical = presign_url(
        method="PUT", endpoint=endpoint, bucket=BUCKET, key=object_keys(1)[0],
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, expires=EXPIRES, now=now,
        headers=SIGNED_HEADERS,
    )  # fmt: skip
    # Any canonical request gives a string-to-sign of the real shape and length.
    to_sign = string_to_sign(
        now.strftime("%Y%m%dT%H%M%SZ"), scope(date, REGION, "s3"), f"PUT\n{typical}"
    )

    def signer_signed_headers(object_key: str) -> str:
        return presign_url(
            method="PUT", endpoint=endpoint, bucket=BUCKET, key=object_key,
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, expires=EXPIRES,
            now=datetime.now(UTC), headers=SIGNED_HEADERS,
        )  # fmt: skip

    def signer_host_only(object_key: str) -> str:
        return presign_url(
            method="PUT", endpoint=endpoint, bucket=BUCKET, key=object_key,
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, expires=EXPIRES,
            now=datetime.now(UTC),
        )  # fmt: skip

    def minio_py(object_key: str) -> str:
        return client.presigned_put_object(BUCKET, object_key, expires=expires)

    def hmac_floor(object_key: str) -> str:
        return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    return {
        "signer_signed_headers": signer_signed_headers,
        "signer_host_only": signer_host_only,
        "minio_py": minio_py,
        "hmac_floor": hmac_floor,
    }


def _time_calls(call: Callable[[str], str], keys: list[str], count: int) -> float:
    mask = len(keys) - 1
    started = time.perf_counter()
    for i in range(count):
        call(keys[i & mask])
    return time.perf_counter() - started


def calibrate(call: Callable[[str], str], keys: list[str], seconds: float) -> int:
    """How many calls take about ``seconds`` (at least 100), from a short trial."""
    trial = 200
    elapsed = _time_calls(call, keys, trial)
    return max(100, int(trial * seconds / max(elapsed, 1e-9)))


def check_urls(made: dict[str, Callable[[str], str]]) -> list[str]:
    """Problems with what the contenders return (an empty list when all is well)."""
    key = object_keys(1)[0]
    problems = []
    for name in ("signer_signed_headers", "signer_host_only", "minio_py"):
        url = made[name](key)
        if "X-Amz-Signature=" not in url or key.split("/")[-1] not in url:
            problems.append(f"{name} returned no presigned URL for {key}")
    signed = made["signer_signed_headers"](key)
    if "content-length%3Bcontent-type%3Bhost%3Bif-none-match" not in signed:
        problems.append("signer_signed_headers did not sign the three headers")
    if len(made["hmac_floor"](key)) != 64:
        problems.append("hmac_floor did not return a hex SHA-256 HMAC")
    return problems


def run(plan: SigningPlan, closed_endpoint: str) -> dict[str, Any]:
    """Measure every contender; ``closed_endpoint`` is a loopback URL nothing listens on."""
    made = contenders(closed_endpoint)
    problems = check_urls(made)
    keys = object_keys()
    counts = {name: calibrate(made[name], keys, plan.round_seconds) for name in CONTENDERS}
    per_call: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for round_no in range(plan.rounds):
        shift = round_no % len(CONTENDERS)
        for name in CONTENDERS[shift:] + CONTENDERS[:shift]:
            elapsed = _time_calls(made[name], keys, counts[name])
            per_call[name].append(elapsed / counts[name] * 1e6)

    def per_round(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(per_call[a], per_call[b], strict=True)]

    results: dict[str, Any] = {
        "contenders": {
            name: {
                "us_per_url": summary(per_call[name]),
                "urls_per_s": summary([1e6 / us for us in per_call[name]]),
                "calls_per_round": counts[name],
            }
            for name in CONTENDERS
        },
        # Per-round ratios: both sides of each ratio were timed seconds apart.
        "ratios": {
            "minio_py_over_signed_headers": summary(per_round("minio_py", "signer_signed_headers")),
            "minio_py_over_host_only": summary(per_round("minio_py", "signer_host_only")),
            "signed_headers_over_hmac": summary(per_round("signer_signed_headers", "hmac_floor")),
            "host_only_over_hmac": summary(per_round("signer_host_only", "hmac_floor")),
        },
        "problems": problems,
    }
    med = {name: results["contenders"][name]["us_per_url"]["median"] for name in CONTENDERS}
    results["median_ratios"] = {
        "minio_py_over_signed_headers": ratio(med["minio_py"], med["signer_signed_headers"]),
        "signed_headers_over_hmac": ratio(med["signer_signed_headers"], med["hmac_floor"]),
    }
    return results


def profile(seconds: float, closed_endpoint: str) -> Profile:
    """pyinstrument profile of the signed-headers presign, the one the signer serves."""
    call = contenders(closed_endpoint)["signer_signed_headers"]
    key = object_keys(1)[0]
    return profile_calls("signing-presign_url", lambda: call(key), seconds)
