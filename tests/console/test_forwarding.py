"""What the console proxy forwards: forwarding headers only from a trusted proxy, the
validated host, and security headers on every answer (the 421 page too).

Real nginx, rendered by console/render.py, in front of a real HTTP server that answers with
the headers it received (tests/console/nginx_proxy.py: EchoUpstream), since that is what the
console acts on. The test client connects from 127.0.0.1: with CONSOLE_TRUSTED_PROXIES
naming 127.0.0.1 it plays the proxy in front; otherwise it is an untrusted client.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.errors import ConfigError
from console.render import ConsoleSettings, render
from tests.console.nginx_proxy import NGINX, ConsoleProxy, EchoUpstream

pytestmark = pytest.mark.skipif(
    not NGINX.exists(), reason=f"{NGINX} not installed (apt-get install nginx)"
)

CLAIMS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
    "Forwarded": "for=203.0.113.8;proto=https;host=evil.example.net",
    "X-Forwarded-Scheme": "https",
    "X-Forwarded-Host": "evil.example.net",
}
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # the proxy's answer, lowercased names
    upstream: dict[str, list[str]]  # what the upstream received ({} when it was not reached)


def send(proxy: ConsoleProxy, headers: dict[str, str], target: str = "/") -> Answer:
    """One GET with exactly these headers (Host included); ``target`` may be absolute-form."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        answer_headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    upstream = json.loads(body)["headers"] if resp.status == 200 else {}
    return Answer(resp.status, answer_headers, upstream)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoUpstream]:
    with EchoUpstream() as server:
        yield server


def start_proxy(tmp: Path, echo: EchoUpstream, **env: str) -> ConsoleProxy:
    return ConsoleProxy(prefix=tmp / "nginx", upstream_port=echo.port, env=env).start()


@pytest.fixture(scope="module")
def untrusting(tmp_path_factory, echo) -> Iterator[ConsoleProxy]:
    """The default: no CONSOLE_TRUSTED_PROXIES, any host."""
    proxy = start_proxy(tmp_path_factory.mktemp("untrusting"), echo)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def trusting(tmp_path_factory, echo) -> Iterator[ConsoleProxy]:
    """127.0.0.1 (the test client) is the trusted proxy in front."""
    proxy = start_proxy(
        tmp_path_factory.mktemp("trusting"), echo, CONSOLE_TRUSTED_PROXIES="10.0.0.0/8,127.0.0.1"
    )
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def host_bound(tmp_path_factory, echo) -> Iterator[ConsoleProxy]:
    proxy = start_proxy(
        tmp_path_factory.mktemp("host-bound"), echo, CONSOLE_ALLOWED_HOSTS="console.example.com"
    )
    yield proxy
    proxy.stop()


# --- forwarding headers -------------------------------------------------------------------------


def test_an_untrusted_clients_forwarding_claims_are_ignored(untrusting: ConsoleProxy) -> None:
    answer = send(untrusting, {"Host": f"127.0.0.1:{untrusting.port}", **CLAIMS})
    assert answer.status == 200
    up = answer.upstream
    assert up["x-forwarded-proto"] == ["http"]  # our own scheme, not the claim
    assert up["x-forwarded-for"] == ["127.0.0.1"]  # the peer, not a chain the client wrote
    assert up["x-real-ip"] == ["127.0.0.1"]
    for dropped in ("forwarded", "x-forwarded-scheme", "x-forwarded-host"):
        assert dropped not in up, dropped
    # HSTS over plain HTTP because a client said "https": no.
    assert "strict-transport-security" not in answer.headers


def test_a_proxy_not_in_the_trusted_list_is_not_believed(
    tmp_path: Path, echo: EchoUpstream
) -> None:
    proxy = start_proxy(tmp_path, echo, CONSOLE_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1")
    try:
        answer = send(proxy, {"Host": "127.0.0.1", **CLAIMS})
    finally:
        proxy.stop()
    assert answer.upstream["x-forwarded-proto"] == ["http"]
    assert answer.upstream["x-forwarded-for"] == ["127.0.0.1"]
    assert "strict-transport-security" not in answer.headers


def test_the_trusted_proxys_headers_are_believed(trusting: ConsoleProxy) -> None:
    # As Render's edge relays a browser's HTTPS request: it appends the client to the chain.
    headers = {
        "Host": "console.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "198.51.100.1, 203.0.113.7",
    }
    answer = send(trusting, headers)
    assert answer.status == 200
    assert answer.upstream["x-forwarded-proto"] == ["https"]
    # The rightmost address not itself a trusted proxy: what the proxy in front saw.
    assert answer.upstream["x-forwarded-for"] == ["203.0.113.7"]
    assert answer.upstream["x-real-ip"] == ["203.0.113.7"]
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_a_trusted_proxy_may_only_say_http_or_https(trusting: ConsoleProxy) -> None:
    answer = send(trusting, {"Host": "127.0.0.1", "X-Forwarded-Proto": "javascript"})
    assert answer.upstream["x-forwarded-proto"] == ["http"]
    plain = send(trusting, {"Host": "127.0.0.1", "X-Forwarded-Proto": "http"})
    assert plain.upstream["x-forwarded-proto"] == ["http"]
    assert "strict-transport-security" not in plain.headers


# --- the host sent upstream ---------------------------------------------------------------------


def test_the_validated_host_goes_upstream_not_the_clients(host_bound: ConsoleProxy) -> None:
    # Absolute-form request target: nginx picks the server by it, while the Host header names
    # another site. Upstream, the console must see the host that was checked.
    answer = send(
        host_bound,
        {"Host": "evil.example.net"},
        target="http://console.example.com/login",
    )
    assert answer.status == 200
    assert answer.upstream["host"] == ["console.example.com"]


def test_the_host_keeps_its_port_and_loses_its_case(host_bound: ConsoleProxy) -> None:
    # The console compares a WebSocket's Origin (with its port) against Host.
    answer = send(host_bound, {"Host": "Console.Example.COM:8443"})
    assert answer.status == 200
    assert answer.upstream["host"] == ["console.example.com:8443"]


def test_any_host_is_normalised_when_none_is_listed(untrusting: ConsoleProxy) -> None:
    answer = send(untrusting, {"Host": f"LOCALHOST:{untrusting.port}"})
    assert answer.upstream["host"] == [f"localhost:{untrusting.port}"]


def test_the_421_page_carries_security_headers(host_bound: ConsoleProxy) -> None:
    answer = send(host_bound, {"Host": "evil.example.net", **CLAIMS})
    assert answer.status == 421
    assert answer.upstream == {}
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, name
    assert "strict-transport-security" not in answer.headers


def test_the_421_page_sends_hsts_when_the_trusted_proxy_says_https(
    tmp_path: Path, echo: EchoUpstream
) -> None:
    proxy = start_proxy(
        tmp_path,
        echo,
        CONSOLE_ALLOWED_HOSTS="console.example.com",
        CONSOLE_TRUSTED_PROXIES="127.0.0.1",
    )
    try:
        answer = send(proxy, {"Host": "evil.example.net", "X-Forwarded-Proto": "https"})
    finally:
        proxy.stop()
    assert answer.status == 421
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
    assert answer.headers["x-frame-options"] == "DENY"


# --- the setting --------------------------------------------------------------------------------


def test_trusted_proxies_parse_and_render() -> None:
    settings = ConsoleSettings.from_env(
        {"CONSOLE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1 ,::1,2001:db8::/32,10.0.0.0/8"}
    )
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "::1", "2001:db8::/32")
    text = render(settings)
    assert "set_real_ip_from 10.0.0.0/8;" in text and "set_real_ip_from ::1;" in text
    assert ConsoleSettings.from_env({}).trusted_proxies == ()
    assert "set_real_ip_from" not in render(ConsoleSettings.from_env({}))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("10.0.0.1/8", "'10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"),
        ("render", "'render' is not an IP address or CIDR block; use e.g. 10.0.0.0/8"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR block; use e.g. 10.0.0.0/8"),
    ],
)
def test_a_bad_trusted_proxy_is_refused_naming_it(value: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        ConsoleSettings.from_env({"CONSOLE_TRUSTED_PROXIES": f"127.0.0.1,{value}", "PORT": "x"})
    assert ("CONSOLE_TRUSTED_PROXIES", why) in info.value.problems
    assert [name for name, _ in info.value.problems] == ["PORT", "CONSOLE_TRUSTED_PROXIES"]
