"""The signer's configuration: one frozen object built from the environment, validated once.

Every problem is collected and reported at once, each naming its variable, before the signer
serves a request. Secrets also come as ``NAME_FILE`` (Docker/Compose secrets); no secret is ever
echoed in a message or a ``repr``.

Environment (defaults in brackets):
    SIGNER_S3_ENDPOINT                    storage URL the signer itself calls (create/HEAD/complete)
                                          or bare host:port, meaning http:// (a private network)
    SIGNER_PUBLIC_ENDPOINT [= internal]   storage URL clients reach; URLs are signed for its Host
    SIGNER_INTERNAL_ENDPOINT [= S3 endpoint]  storage URL services inside reach (endpoint=internal)
    SIGNER_ACCESS_KEY, SIGNER_SECRET_KEY  the signer's bucket-scoped identity (never root)
    MINIO_BUCKET                          the bucket uploads go to
    S3_REGION [MINIO_REGION, us-east-1]   region URLs are signed for (presigning makes no call):
                                          storage's, which MinIO takes from MINIO_REGION
    SIGNER_API_TOKENS                     comma-separated bearer tokens (>= 16 chars each)
    SIGNER_POLICY_FILE [built-in]         YAML upload profiles (see signer/policy_file.py)
    SIGNER_LISTEN [0.0.0.0:8080]          host:port the HTTP API listens on; 0.0.0.0:$PORT when
                                          unset and the platform sets PORT (Render does)
    SIGNER_TOKEN_SECRETS                  comma-separated intent-token secrets, first signs
    SIGNER_TOKEN_KEY(_FILE)               or: a PEM private key (RSA or EC P-256) that signs
    SIGNER_TOKEN_PREVIOUS_KEY_FILES       comma-separated PEM files that still verify
    SIGNER_TOKEN_ISSUER/AUDIENCE          [minio-stack-signer] the intent tokens' iss and aud
    SIGNER_SIGNING_ALG [from the keys]    ES256 or RS256: the intent-token keys must be this kind
    SIGNER_ACTIVE_KID [the first key]     kid of the key that signs intent tokens (rotation)
    SIGNER_AUDIT_FORMAT [logfmt]          one audit line per decision: logfmt, json or off
    SIGNER_RATE_LIMIT [20,40]             requests/s per API token, then the burst; 0 = off
    SIGNER_WORKERS [1]                    worker processes (granian runs them)
    SIGNER_STORAGE_TIMEOUT [10s]          connect/read timeout of each storage call
    SIGNER_DEMO [false]                   serve the demo upload page at /demo (loopback only)
    SIGNER_ACCESS_LOG [false]             log a line per request (``/metrics`` counts them anyway)
    SIGNER_TRUSTED_PROXIES [none]         proxies (IPs/CIDRs) whose X-Forwarded-For names the client
    SIGNER_FAILED_AUTH_LIMIT [10,100]     failed authentications/s per client address, then burst
    SIGNER_MAX_HEADER_BYTES [16KiB]       request line and headers larger than this: 431
    SIGNER_HEADER_TIMEOUT [15s]           time to send request line and headers; idle keep-alive
    SIGNER_BODY_TIMEOUT [10s]             time to send a request body
    SIGNER_MAX_CONNECTIONS [1000]         connections served at once, per worker

Client commands (``minio-stack upload``/``download``) read ``ClientSettings``:
    SIGNER_URL [http://127.0.0.1:8080]    the signer's HTTP API
    SIGNER_API_TOKEN                      one of the signer's API tokens
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from common.envconfig import Env, parse_duration, parse_size
from common.s3vocab import STATE_PREFIX
from common.validators import check_bucket_name, check_region, parse_endpoint
from signer.core.keys import fixed_prefix
from signer.core.policy import DEFAULT_POLICY, Policy, PolicyError
from signer.core.tokens import MIN_SECRET_CHARS, TokenKeys
from signer.policy_file import SIGNING_ALGS, PolicyFile, load_policy_file

DEFAULT_REGION = "us-east-1"
DEFAULT_LISTEN = "0.0.0.0:8080"  # noqa: S104 - a sidecar in a container listens on all interfaces
DEFAULT_TOKEN_PARTY = "minio-stack-signer"  # noqa: S105 - iss/aud, not a secret
DEFAULT_RATE = 20.0
DEFAULT_BURST = 40
# One worker: the signer's work per request is a few HMACs and, at most, one short storage
# call run in a thread pool, so one event loop keeps up with far more requests than a small
# instance has cores. More workers would also split the per-token rate limit and /metrics
# between processes that know nothing of each other. Scale out with replicas instead (the
# signer is stateless); raise SIGNER_WORKERS only on a large machine with one replica.
DEFAULT_WORKERS = 1
MAX_WORKERS = 64
DEFAULT_STORAGE_TIMEOUT = 10.0
MIN_API_TOKEN_CHARS = 16
# A wrong token costs the caller a token of its address's bucket: 10 per second after a burst
# of 100 is far above any client that merely mistyped its token, and far below a flood.
DEFAULT_FAILED_AUTH_RATE = 10.0
DEFAULT_FAILED_AUTH_BURST = 100
# Every request the signer takes is small: a bearer token and a JSON body of a few KiB at most.
# 16 KiB of request line and headers is what h11 and Node.js allow by default.
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
MIN_MAX_HEADER_BYTES = 8 * 1024  # the HTTP server's own floor
MAX_MAX_HEADER_BYTES = 1024 * 1024
# A client on any real network sends its request head in milliseconds; 15 s also bounds an
# idle keep-alive connection (the server has one timer for both).
DEFAULT_HEADER_TIMEOUT = 15.0
MAX_HEADER_TIMEOUT = 60.0  # the HTTP server's ceiling
DEFAULT_BODY_TIMEOUT = 10.0
# Per worker. Each connection costs the server a few KiB until it is served or timed out.
DEFAULT_MAX_CONNECTIONS = 1000
MAX_MAX_CONNECTIONS = 100_000
DEFAULT_SIGNER_URL = "http://127.0.0.1:8080"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RateLimit:
    """Token bucket per API token: ``rate`` requests/s refill, ``burst`` at once; rate 0 = off."""

    rate: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.rate > 0


@dataclass(frozen=True)
class Limits:
    """What a client may take of the server: request size and time, connections, and failed
    authentications per client address (who that is: see ``trusted_proxies``)."""

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    failed_auth: RateLimit = RateLimit(DEFAULT_FAILED_AUTH_RATE, DEFAULT_FAILED_AUTH_BURST)
    trusted_proxies: tuple[Network, ...] = ()


@dataclass(frozen=True)
class Settings:
    s3_endpoint: str
    public_endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str = ""
    region: str = DEFAULT_REGION
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    policy: Policy = DEFAULT_POLICY
    policy_source: str = "built-in default policy"
    listen_host: str = "0.0.0.0"  # noqa: S104 - see DEFAULT_LISTEN
    listen_port: int = 8080
    token_keys: TokenKeys | None = field(default=None, repr=False)
    token_issuer: str = DEFAULT_TOKEN_PARTY
    token_audience: str = DEFAULT_TOKEN_PARTY
    # Storage URL for clients inside the network (compose, Render's private network); ""
    # means s3_endpoint, the one the signer itself calls.
    internal_endpoint: str = ""
    audit_format: str = "logfmt"
    rate_limit: RateLimit = RateLimit(DEFAULT_RATE, DEFAULT_BURST)
    workers: int = DEFAULT_WORKERS
    storage_timeout: float = DEFAULT_STORAGE_TIMEOUT
    demo: bool = False
    access_log: bool = False
    limits: Limits = Limits()

    @property
    def listen(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"

    @property
    def keys(self) -> TokenKeys:
        if self.token_keys is None:  # load() always sets them; a hand-built Settings may not
            raise RuntimeError("Settings.token_keys is not set")
        return self.token_keys


@dataclass(frozen=True)
class ClientSettings:
    """What ``minio-stack upload``/``download`` need: where the signer is, and a token."""

    signer_url: str
    api_token: str | None = field(default=None, repr=False)


# --- pure parsers (ValueError says what is wrong and how to fix it) ---------------------------


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::]:8080`` for IPv6) → (host, port)."""
    how = "use host:port, e.g. 0.0.0.0:8080 or 127.0.0.1:8080 ([::]:8080 for IPv6)"
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{raw!r} is not host:port; {how}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1..65535; {how}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"{raw!r} has an unclosed '['; {how}")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{raw!r}: write IPv6 addresses in brackets; {how}")
    return host, port


def parse_s3_endpoint(text: str) -> str:
    """A storage URL, or a bare ``host:port``, which means plain HTTP: what Render's
    ``fromService … property: hostport`` gives (``minio-server-a1b2:9000``), a private-network
    address. Without this, the only value with a scheme is the public URL, and every call the
    signer makes would leave Render's network and come back through its edge."""
    raw = text.strip()
    if raw and "://" not in raw:
        host, sep, port = raw.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(
                f"{raw!r} is neither a URL nor host:port; use http://host:port, "
                "https://host:port or host:port (plain HTTP)"
            )
        raw = f"http://{raw}"
    return parse_endpoint(raw)


def parse_port(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a TCP port; use a number from 1 to 65535")
    return int(text)


def _listen(env: Env) -> tuple[str, int]:
    """SIGNER_LISTEN; unset, every interface on the port the platform routes to when it names
    one in PORT (Render does), else DEFAULT_LISTEN. PORT is not read when SIGNER_LISTEN is set."""
    default = parse_listen(DEFAULT_LISTEN)
    text = env.raw("SIGNER_LISTEN")
    if text is None:
        return default[0], env.parsed("PORT", parse_port, default[1])
    try:
        return parse_listen(text)
    except ValueError as exc:
        env.problem("SIGNER_LISTEN", str(exc))
        return default


def parse_rate_limit(text: str) -> RateLimit:
    """``RATE`` or ``RATE,BURST`` (requests per second per token); ``0`` or ``off`` disables."""
    how = "use RATE[,BURST] in requests per second, e.g. 20,40, or 0 to turn it off"
    raw = text.strip().lower()
    if raw in ("0", "off", "false", "none"):
        return RateLimit(0.0, 0)
    rate_text, _, burst_text = raw.partition(",")
    try:
        rate = float(rate_text.strip().removesuffix("/s"))
        burst = int(burst_text) if burst_text.strip() else max(1, int(rate * 2))
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit; {how}") from None
    if not rate > 0 or rate > 1_000_000:
        raise ValueError(f"rate {rate_text!r} must be above 0 and at most 1000000; {how}")
    if burst < 1:
        raise ValueError(f"burst {burst} must be at least 1; {how}")
    return RateLimit(rate, burst)


def parse_workers(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise ValueError(f"{text!r} must be a whole number from 1 to {MAX_WORKERS}")
    return int(text)


def parse_timeout(text: str) -> float:
    seconds = parse_duration(text)
    if not 0 < seconds <= 300:
        raise ValueError(f"{text!r} must be above 0s and at most 5m, e.g. 10s")
    return seconds


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated IP addresses or CIDR networks (``10.0.0.0/8,127.0.0.1``)."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{part!r} is not an IP address or network; use e.g. 10.0.0.0/8,127.0.0.1"
            ) from None
    return tuple(networks)


def parse_header_bytes(text: str) -> int:
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; use a size such as 16KiB") from None
    if not MIN_MAX_HEADER_BYTES <= size <= MAX_MAX_HEADER_BYTES:
        raise ValueError(f"{text!r} must be from 8KiB to 1MiB, e.g. 16KiB")
    return size


def parse_header_timeout(text: str) -> float:
    seconds = parse_duration(text)
    if not 1 <= seconds <= MAX_HEADER_TIMEOUT:
        raise ValueError(f"{text!r} must be from 1s to 60s, e.g. 15s")
    return seconds


def parse_max_connections(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_MAX_CONNECTIONS:
        raise ValueError(f"{text!r} must be a whole number from 1 to {MAX_MAX_CONNECTIONS}")
    return int(text)


def _is_loopback_listen(listen: str) -> bool:
    # signer.demo owns the rule; imported late because it pulls in Starlette's static files.
    from signer.demo import is_loopback_listen

    return is_loopback_listen(listen)


# --- loading ---------------------------------------------------------------------------------


def _policy(env: Env) -> tuple[PolicyFile, str]:
    path_text = env.str("SIGNER_POLICY_FILE")
    if path_text is None:
        return PolicyFile(DEFAULT_POLICY), "built-in default policy"
    path = Path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        env.problem("SIGNER_POLICY_FILE", f"cannot read {path}: {exc.strerror}")
        return PolicyFile(DEFAULT_POLICY), str(path)
    try:
        read = load_policy_file(text, source=str(path))
    except PolicyError as exc:
        env.problem("SIGNER_POLICY_FILE", f"{path}: {exc.field}: {exc.reason}")
        return PolicyFile(DEFAULT_POLICY), str(path)
    policy = read.policy
    for profile in policy.profiles.values():
        start = fixed_prefix(profile.key_template, profile.prefix)
        if start.startswith(STATE_PREFIX.rstrip("/")):
            env.problem(
                "SIGNER_POLICY_FILE",
                f"{path}: profiles.{profile.name}.prefix: keys under {STATE_PREFIX} are the "
                "signer's own records; choose another prefix",
            )
    return read, str(path)


def _file_knob(env: Env, name: str, from_file: str | None, what: str) -> str | None:
    """A knob the environment and the policy file may both name: either alone, or both
    the same; two different values are a problem (which one is meant is not ours to guess)."""
    from_env = env.str(name)
    if from_env is not None and from_file is not None and from_env != from_file:
        env.problem(name, f"is {from_env!r} but the policy file says {what}: {from_file!r}")
        return None
    return from_env if from_env is not None else from_file


def _region(env: Env) -> tuple[str, str]:
    """(the variable, the region): S3_REGION, else MINIO_REGION (MinIO's own region, so one
    variable sets both sides of a stack), else us-east-1."""
    for name in ("S3_REGION", "MINIO_REGION"):
        value = env.raw(name)
        if value:
            try:
                return name, check_region(value)
            except ValueError as exc:
                env.problem(name, str(exc))
                return name, DEFAULT_REGION
    return "S3_REGION", DEFAULT_REGION


def _spec_knobs(
    env: Env, read: PolicyFile, bucket: str, region: tuple[str, str], keys: TokenKeys | None
) -> TokenKeys | None:
    """The policy file's deployment knobs (the spec's names) against the environment, and
    the signing key they choose. ``region`` is (the variable it came from, its value)."""
    for name, ours, theirs in (
        ("MINIO_BUCKET", bucket, read.bucket),
        (*region, read.region),
    ):
        if theirs is not None and ours and theirs != ours:
            env.problem(name, f"is {ours!r} but the policy file names {theirs!r}")
    alg = _file_knob(env, "SIGNER_SIGNING_ALG", read.signing_alg, "signing_alg")
    kid = _file_knob(env, "SIGNER_ACTIVE_KID", read.active_kid, "active_kid")
    if keys is None:
        return None
    if kid is not None:
        try:
            keys = keys.with_active(kid)
        except ValueError as exc:
            env.problem("SIGNER_ACTIVE_KID", str(exc))
            return None
    if alg is not None and alg not in SIGNING_ALGS:
        env.problem("SIGNER_SIGNING_ALG", f"{alg!r} is not ES256 or RS256")
    elif alg is not None and alg != keys.active_alg:
        how = (
            "secrets make ES256 keys; for RS256 give SIGNER_TOKEN_KEY_FILE an RSA key"
            if alg == "RS256"
            else "give SIGNER_TOKEN_KEY_FILE an EC P-256 key, or use SIGNER_TOKEN_SECRETS"
        )
        env.problem(
            "SIGNER_SIGNING_ALG", f"is {alg} but the signing key is {keys.active_alg}; {how}"
        )
    return keys


def parse_audit_format(text: str) -> str:
    value = text.strip().lower()
    if value not in ("logfmt", "json", "off"):
        raise ValueError(f"{text!r} is not logfmt, json or off")
    return value


def _token_keys(env: Env) -> TokenKeys | None:
    secrets = env.list("SIGNER_TOKEN_SECRETS")
    pem = env.str("SIGNER_TOKEN_KEY")
    previous_paths = env.list("SIGNER_TOKEN_PREVIOUS_KEY_FILES")
    if secrets and pem:
        env.problem(
            "SIGNER_TOKEN_SECRETS",
            "is set together with SIGNER_TOKEN_KEY(_FILE); choose secrets or a PEM key, not both",
        )
        return None
    if previous_paths and not pem:
        env.problem(
            "SIGNER_TOKEN_PREVIOUS_KEY_FILES",
            "is only read with SIGNER_TOKEN_KEY_FILE; with secrets, list old ones after the "
            "first in SIGNER_TOKEN_SECRETS",
        )
    if secrets:
        for index, secret in enumerate(secrets, start=1):
            if len(secret) < MIN_SECRET_CHARS:
                env.problem(
                    "SIGNER_TOKEN_SECRETS",
                    f"secret #{index} has fewer than {MIN_SECRET_CHARS} characters; "
                    "generate one with: openssl rand -hex 32",
                )
                return None
        try:
            return TokenKeys.from_secrets(secrets)
        except ValueError as exc:
            env.problem("SIGNER_TOKEN_SECRETS", str(exc))
            return None
    if pem:
        previous: list[bytes] = []
        for path_text in previous_paths:
            try:
                previous.append(Path(path_text).read_bytes())
            except OSError as exc:
                env.problem(
                    "SIGNER_TOKEN_PREVIOUS_KEY_FILES", f"cannot read {path_text}: {exc.strerror}"
                )
                return None
        try:
            return TokenKeys.from_pem(pem.encode("utf-8"), previous)
        except ValueError as exc:
            which = (
                "SIGNER_TOKEN_PREVIOUS_KEY_FILES" if "previous" in str(exc) else "SIGNER_TOKEN_KEY"
            )
            env.problem(which, str(exc))
            return None
    env.problem(
        "SIGNER_TOKEN_SECRETS",
        "is required (or SIGNER_TOKEN_KEY_FILE): every replica needs the same intent-token "
        "key; generate a secret with: openssl rand -hex 32",
    )
    return None


def _api_tokens(env: Env, *, required: bool) -> tuple[str, ...]:
    tokens = env.list("SIGNER_API_TOKENS")
    if not tokens:
        if required:
            env.problem(
                "SIGNER_API_TOKENS",
                "is required: clients authenticate with one of these bearer tokens; "
                "generate one with: openssl rand -hex 24",
            )
        return ()
    for index, token in enumerate(tokens, start=1):
        if len(token) < MIN_API_TOKEN_CHARS:
            env.problem(
                "SIGNER_API_TOKENS",
                f"token #{index} has fewer than {MIN_API_TOKEN_CHARS} characters; "
                "generate one with: openssl rand -hex 24",
            )
        elif any(ch.isspace() or not ch.isprintable() for ch in token):
            env.problem(
                "SIGNER_API_TOKENS", f"token #{index} contains whitespace or a control character"
            )
    if len(set(tokens)) != len(tokens):
        env.problem("SIGNER_API_TOKENS", "lists the same token twice")
    return tuple(tokens)


def _required(env: Env, name: str, parse: Callable[[str], str], example: str) -> str:
    raw = env.raw(name)
    if raw is None:
        env.problem(name, f"is required ({example})")
        return ""
    try:
        return parse(raw)
    except ValueError as exc:
        env.problem(name, str(exc))
        return ""


def _identity(env: Env) -> tuple[str, str]:
    """(access key, secret key): the signer's own identity, never MinIO's root."""
    access_key = env.str("SIGNER_ACCESS_KEY", required=True) or ""
    secret_key = env.str("SIGNER_SECRET_KEY", required=True) or ""
    root_user = env.str("MINIO_ROOT_USER")
    if access_key and root_user and access_key == root_user:
        env.problem(
            "SIGNER_ACCESS_KEY",
            "equals MINIO_ROOT_USER; the signer must use its own bucket-scoped identity "
            "(minio-stack bootstrap creates it)",
        )
    return access_key, secret_key


def _check_demo(env: Env, demo: bool, listen: str) -> None:
    if demo and not _is_loopback_listen(listen):
        env.problem(
            "SIGNER_DEMO",
            "the demo page embeds an API token, so it is served only when SIGNER_LISTEN is a "
            "loopback address such as 127.0.0.1:8080",
        )


def _limits(env: Env) -> Limits:
    return Limits(
        max_header_bytes=env.parsed(
            "SIGNER_MAX_HEADER_BYTES", parse_header_bytes, DEFAULT_MAX_HEADER_BYTES
        ),
        header_timeout=env.parsed(
            "SIGNER_HEADER_TIMEOUT", parse_header_timeout, DEFAULT_HEADER_TIMEOUT
        ),
        body_timeout=env.parsed("SIGNER_BODY_TIMEOUT", parse_timeout, DEFAULT_BODY_TIMEOUT),
        max_connections=env.parsed(
            "SIGNER_MAX_CONNECTIONS", parse_max_connections, DEFAULT_MAX_CONNECTIONS
        ),
        failed_auth=env.parsed(
            "SIGNER_FAILED_AUTH_LIMIT",
            parse_rate_limit,
            RateLimit(DEFAULT_FAILED_AUTH_RATE, DEFAULT_FAILED_AUTH_BURST),
        ),
        trusted_proxies=env.parsed("SIGNER_TRUSTED_PROXIES", parse_networks, ()),
    )


def load(environ: Mapping[str, str] | None = None, *, serving: bool = True) -> Settings:
    """Build and validate the settings; raises ConfigError listing every problem.

    ``serving=False`` (the ``presign`` command) does not need SIGNER_API_TOKENS.
    """
    env = Env(os.environ if environ is None else environ)
    s3_endpoint = _required(
        env, "SIGNER_S3_ENDPOINT", parse_s3_endpoint, "e.g. http://minio:9000 or minio:9000"
    )
    public_endpoint = env.parsed("SIGNER_PUBLIC_ENDPOINT", parse_endpoint, "") or s3_endpoint
    access_key, secret_key = _identity(env)
    bucket = _required(env, "MINIO_BUCKET", check_bucket_name, "the bucket uploads go to")
    region_var, region = _region(env)
    api_tokens = _api_tokens(env, required=serving)
    policy_file, policy_source = _policy(env)
    policy = policy_file.policy
    listen_host, listen_port = _listen(env)
    token_keys = _spec_knobs(env, policy_file, bucket, (region_var, region), _token_keys(env))
    internal_endpoint = env.parsed("SIGNER_INTERNAL_ENDPOINT", parse_endpoint, "") or s3_endpoint
    audit_format = env.parsed("SIGNER_AUDIT_FORMAT", parse_audit_format, "logfmt")
    issuer = env.str("SIGNER_TOKEN_ISSUER", DEFAULT_TOKEN_PARTY) or DEFAULT_TOKEN_PARTY
    audience = env.str("SIGNER_TOKEN_AUDIENCE", DEFAULT_TOKEN_PARTY) or DEFAULT_TOKEN_PARTY
    rate_limit = env.parsed(
        "SIGNER_RATE_LIMIT", parse_rate_limit, RateLimit(DEFAULT_RATE, DEFAULT_BURST)
    )
    workers = env.parsed("SIGNER_WORKERS", parse_workers, DEFAULT_WORKERS)
    timeout = env.parsed("SIGNER_STORAGE_TIMEOUT", parse_timeout, DEFAULT_STORAGE_TIMEOUT)
    demo = env.bool("SIGNER_DEMO", False)
    access_log = env.bool("SIGNER_ACCESS_LOG", False)
    limits = _limits(env)
    _check_demo(env, demo, f"{listen_host}:{listen_port}")
    env.raise_if_invalid()
    return Settings(
        s3_endpoint=s3_endpoint,
        public_endpoint=public_endpoint,
        access_key=access_key,
        secret_key=secret_key,
        bucket=bucket,
        region=region,
        api_tokens=api_tokens,
        policy=policy,
        policy_source=policy_source,
        listen_host=listen_host,
        listen_port=listen_port,
        token_keys=token_keys,
        token_issuer=issuer,
        token_audience=audience,
        internal_endpoint=internal_endpoint,
        audit_format=audit_format,
        rate_limit=rate_limit,
        workers=workers,
        storage_timeout=timeout,
        demo=demo,
        access_log=access_log,
        limits=limits,
    )


def parse_signer_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not a URL; use http://host:port, e.g. http://127.0.0.1:8080")
    return text.strip().rstrip("/")


def load_client(
    environ: Mapping[str, str] | None = None,
    *,
    signer_url: str | None = None,
    api_token: str | None = None,
) -> ClientSettings:
    """Client settings from the environment; options given on the command line win."""
    env = Env(os.environ if environ is None else environ)
    if signer_url is not None:
        try:
            url = parse_signer_url(signer_url)
        except ValueError as exc:
            env.problem("--signer-url", str(exc))
            url = DEFAULT_SIGNER_URL
    else:
        url = env.parsed("SIGNER_URL", parse_signer_url, DEFAULT_SIGNER_URL)
    token = api_token if api_token is not None else env.str("SIGNER_API_TOKEN")
    if not token:
        env.problem(
            "SIGNER_API_TOKEN", "is required (or --token): one of the signer's SIGNER_API_TOKENS"
        )
    env.raise_if_invalid()
    return ClientSettings(signer_url=url, api_token=token)
