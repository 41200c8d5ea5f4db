"""common.validators: bucket names, browser origins, endpoints, keys and regions."""

from __future__ import annotations

import pytest

from common.validators import (
    check_access_key,
    check_bucket_name,
    check_region,
    check_secret_key,
    parse_endpoint,
    parse_origin,
)


@pytest.mark.parametrize(
    "name",
    ["abc", "uploads", "my.bucket-1", "a" * 63, "1bucket"],
)
def test_valid_bucket_names(name):
    assert check_bucket_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("Uploads", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-bucket", "begin and end"),
        ("bucket-", "begin and end"),
        ("my..bucket", "'..'"),
        ("192.168.1.1", "IP address"),
        ("xn--bucket", "reserves"),
        ("bucket-s3alias", "reserves"),
    ],
)
def test_invalid_bucket_names(name, why):
    with pytest.raises(ValueError, match=why):
        check_bucket_name(name)


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_origins_normalised_to_what_browsers_send(text, origin):
    assert parse_origin(text) == origin


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("app.example.com", "not an origin"),
        ("ftp://app.example.com", "not an origin"),
        ("https://app.example.com/", "path"),
        ("https://app.example.com/upload", "path"),
        ("https://user:pw@app.example.com", "credentials"),
        ("https://app.example.com:99999", "port"),
        ("https://*.example.com", "wildcards"),
        ("https://bad_host.example.com", "host name"),
        ("https://", "no host"),
    ],
)
def test_malformed_origins(text, why):
    with pytest.raises(ValueError, match=why) as info:
        parse_origin(text)
    assert "scheme://host[:port]" in str(info.value)


def test_endpoint_forms():
    assert parse_endpoint("http://minio:9000") == "http://minio:9000"
    with pytest.raises(ValueError, match="path"):
        parse_endpoint("http://minio:9000/bucket")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("minio:9000", "not a URL"),
        ("ftp://minio:9000", "not a URL"),
        ("http://minio:9000/?x=1", "path"),
        ("http://minio:99999", "invalid port"),
    ],
)
def test_bad_endpoints(text, why):
    with pytest.raises(ValueError, match=why):
        parse_endpoint(text)


def test_access_and_secret_keys_follow_minios_rules():
    assert check_access_key("abc") == "abc"
    for bad, why in (("ab", "at least 3"), ("a=b", "'='"), ("a,b", "','")):
        with pytest.raises(ValueError, match=why):
            check_access_key(bad)
    assert check_secret_key("12345678") == "12345678"
    with pytest.raises(ValueError, match="at least 8"):
        check_secret_key("1234567")


@pytest.mark.parametrize("region", ["us-east-1", "eu_west", "local"])
def test_regions(region):
    assert check_region(region) == region


@pytest.mark.parametrize("region", ["1us", "us east", "", "u"])
def test_bad_regions(region):
    with pytest.raises(ValueError, match="not a region"):
        check_region(region)
