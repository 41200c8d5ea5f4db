from urllib.parse import parse_qs, urlsplit

from bench.signing import CONTENDERS, SigningPlan, check_urls, contenders, object_keys, run
from harness.minio_server import free_port


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_contenders_make_presigned_urls_without_a_server():
    made = contenders(closed_endpoint())
    assert check_urls(made) == []
    key = object_keys(1)[0]
    ours = parse_qs(urlsplit(made["signer_signed_headers"](key)).query)
    theirs = parse_qs(urlsplit(made["minio_py"](key)).query)
    assert ours["X-Amz-SignedHeaders"] == ["content-length;content-type;host;if-none-match"]
    assert theirs["X-Amz-SignedHeaders"] == ["host"]
    # Same identity and lifetime: the comparison is like for like.
    assert ours["X-Amz-Credential"][0].split("/")[0] == theirs["X-Amz-Credential"][0].split("/")[0]
    assert ours["X-Amz-Expires"] == theirs["X-Amz-Expires"] == ["900"]


def test_object_keys_are_distinct_and_a_power_of_two():
    keys = object_keys()
    assert len(set(keys)) == len(keys)
    assert len(keys) & (len(keys) - 1) == 0


def test_a_tiny_run_has_every_figure():
    results = run(SigningPlan(rounds=2, round_seconds=0.005), closed_endpoint())
    assert results["problems"] == []
    assert set(results["contenders"]) == set(CONTENDERS)
    for figures in results["contenders"].values():
        assert figures["us_per_url"]["n"] == 2
        assert figures["us_per_url"]["median"] > 0
        assert figures["calls_per_round"] >= 100
    assert set(results["ratios"]) == {
        "minio_py_over_signed_headers",
        "minio_py_over_host_only",
        "signed_headers_over_hmac",
        "host_only_over_hmac",
    }
    # The floor is one HMAC: every presign does at least that much work.
    assert results["ratios"]["signed_headers_over_hmac"]["median"] > 1
