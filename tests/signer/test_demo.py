"""signer/demo.py without a browser: the page's config, its headers, the static files, the
loopback rule. tests/browser/ drives the page itself in Chromium."""

from __future__ import annotations

import html
import json
import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from common.errors import ConfigError
from signer.demo import (
    CONFIG_PLACEHOLDER,
    PAGE_TEMPLATE,
    demo_routes,
    is_loopback_listen,
    render_demo_page,
)
from signer.policy_file import load_policy
from signer.settings import Settings, load

TOKEN = "demo-token-0123456789abcdef"
POLICY = load_policy(
    """
default_profile: photos
profiles:
  photos: {mime_types: {image/png: png}, size_max: 1MiB, prefix: photos}
  docs: {mime_types: {application/pdf: pdf}, size_max: 1MiB, prefix: docs}
"""
)
_CONFIG = re.compile(r'<meta name="signer-demo-config" content="([^"]*)">')


def page_config(page: str) -> dict:
    match = _CONFIG.search(page)
    assert match, "the page has no config meta tag"
    return json.loads(html.unescape(match.group(1)))


@pytest.fixture
def client() -> TestClient:
    settings = Settings(
        s3_endpoint="http://127.0.0.1:9000",
        public_endpoint="http://127.0.0.1:9000",
        access_key="signer",
        secret_key="not-used-here",
        bucket="uploads",
        api_tokens=(TOKEN, "second-token-0123456789"),
        policy=POLICY,
        listen_host="127.0.0.1",
        demo=True,
    )
    return TestClient(Starlette(routes=demo_routes(settings)))


def test_page_carries_the_first_token_and_the_profiles(client: TestClient) -> None:
    answer = client.get("/demo")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    config = page_config(answer.text)
    assert config == {
        "token": TOKEN,
        "profiles": ["docs", "photos"],
        "default_profile": "photos",
        "signer_url": "",
    }
    assert CONFIG_PLACEHOLDER not in answer.text


def test_page_is_not_cached_framed_or_given_inline_scripts(client: TestClient) -> None:
    headers = client.get("/demo").headers
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


def test_config_cannot_break_out_of_its_attribute() -> None:
    hostile = 'x"><script>alert(1)</script>&'
    page = render_demo_page(token=hostile, profiles=["a<b"], default_profile=None)
    assert "<script>alert" not in page
    assert page_config(page)["token"] == hostile
    assert page_config(page)["profiles"] == ["a<b"]


@pytest.mark.parametrize(
    ("path", "media_type", "needle"),
    [
        ("/static/upload.js", "javascript", "export async function upload("),
        ("/static/demo.js", "javascript", 'from "./upload.js"'),
        ("/static/demo.css", "text/css", ".upload"),
    ],
)
def test_static_files_are_served(
    client: TestClient, path: str, media_type: str, needle: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert media_type in answer.headers["content-type"]  # module scripts need a JS type
    assert needle in answer.text


def test_raw_template_holds_no_token(client: TestClient) -> None:
    raw = client.get("/static/demo.html").text
    assert raw == PAGE_TEMPLATE.read_text(encoding="utf-8")
    assert TOKEN not in raw


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:8080", True),
        ("127.1.2.3:8080", True),
        ("localhost:8080", True),
        ("[::1]:8080", True),
        ("0.0.0.0:8080", False),
        ("[::]:8080", False),
        ("10.0.0.5:8080", False),
        ("signer.internal:8080", False),
    ],
)
def test_loopback_listen(listen: str, loopback: bool) -> None:
    assert is_loopback_listen(listen) is loopback


def test_demo_is_refused_unless_the_signer_listens_on_loopback() -> None:
    env = {
        "SIGNER_S3_ENDPOINT": "http://127.0.0.1:9000",
        "SIGNER_ACCESS_KEY": "signer",
        "SIGNER_SECRET_KEY": "signer-secret-123",
        "MINIO_BUCKET": "uploads",
        "SIGNER_API_TOKENS": TOKEN,
        "SIGNER_TOKEN_SECRETS": "s" * 40,
        "SIGNER_DEMO": "true",
        "SIGNER_LISTEN": "0.0.0.0:8080",
    }
    with pytest.raises(ConfigError) as caught:
        load(env)
    assert [name for name, _ in caught.value.problems] == ["SIGNER_DEMO"]
    assert load({**env, "SIGNER_LISTEN": "127.0.0.1:8080"}).demo is True
