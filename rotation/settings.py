"""The rotation commands' settings: one frozen object, built from the environment once.

Where the deployment is comes from the same places `make up` reads (stack_settings:
STACK_ENV_FILE, STACK_API_PORT, ... from the shell, then .env). The Render target also reads:

    RENDER_API_KEY                 an API key (Dashboard → Account settings → API keys)
    RENDER_SERVICE_ID              the minio-server service's id (srv-...)
    RENDER_API_URL [https://api.render.com/v1]
    RENDER_DEPLOY_POLL [5s]        how often a deploy's status is asked for
    MINIO_ENDPOINT                 minio-server's public URL (https://...onrender.com)
    MINIO_ROOT_USER, MINIO_ROOT_PASSWORD   the root credentials the service runs with now
    MINIO_REGION [us-east-1]
    SIGNER_ACCESS_KEY, SIGNER_SECRET_KEY, MINIO_BUCKET   optional: check the signer too

    ROTATION_TIMEOUT [5m]          how long a restart or deploy may take to become healthy
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bootstrap.settings import Credentials
from common.envconfig import Env
from common.validators import (
    check_access_key,
    check_bucket_name,
    check_region,
    check_secret_key,
    parse_endpoint,
)
from stack import envfile
from stack import settings as stack_mod
from stack.settings import StackSettings

DEFAULT_RENDER_API_URL = "https://api.render.com/v1"
DEFAULT_TIMEOUT = 300.0
DEFAULT_DEPLOY_POLL = 5.0


@dataclass(frozen=True)
class RenderSettings:
    api_url: str
    api_key: str = field(repr=False)
    service_id: str
    deploy_poll: float
    endpoint: str
    region: str
    root: Credentials
    signer: Credentials | None
    bucket: str | None


@dataclass(frozen=True)
class RotationSettings:
    stack: StackSettings
    environ: Mapping[str, str] = field(repr=False)  # inherited by processes the stack starts
    timeout: float = DEFAULT_TIMEOUT
    render: RenderSettings | None = None

    @property
    def env_file(self) -> Path:
        return self.stack.env_file


def _creds(env: Env, access_var: str, secret_var: str, *, required: bool) -> Credentials | None:
    access = env.str(access_var, required=required)
    secret = env.str(secret_var, required=required)
    ok = True
    pairs = ((access_var, access, check_access_key), (secret_var, secret, check_secret_key))
    for var, value, check in pairs:
        if value is None:
            ok = False
            continue
        try:
            check(value)
        except ValueError as exc:
            env.problem(var, str(exc))  # never the value: it may be a secret
            ok = False
    if access is not None and secret is None and not required:
        env.problem(secret_var, f"is not set but {access_var} is; set both or neither")
    return Credentials(access, secret) if ok and access and secret else None


def _render(env: Env) -> RenderSettings:
    api_url = env.parsed("RENDER_API_URL", _parse_api_url, DEFAULT_RENDER_API_URL)
    api_key = env.str("RENDER_API_KEY", required=True) or ""
    service_id = env.str("RENDER_SERVICE_ID", required=True) or ""
    poll = env.duration("RENDER_DEPLOY_POLL", DEFAULT_DEPLOY_POLL)
    if poll <= 0:
        env.problem("RENDER_DEPLOY_POLL", "must be longer than 0s, e.g. 5s")
    endpoint = env.parsed("MINIO_ENDPOINT", parse_endpoint, "")
    if not endpoint and not env.raw("MINIO_ENDPOINT"):
        env.problem("MINIO_ENDPOINT", "is required: minio-server's public URL, https://...")
    region = env.parsed("MINIO_REGION", check_region, "us-east-1")
    root = _creds(env, "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", required=True)
    signer = _creds(env, "SIGNER_ACCESS_KEY", "SIGNER_SECRET_KEY", required=False)
    bucket = env.parsed("MINIO_BUCKET", check_bucket_name, "") or None
    if signer is not None and bucket is None:
        env.problem("MINIO_BUCKET", "is required with SIGNER_ACCESS_KEY: the signer's bucket")
    return RenderSettings(
        api_url,
        api_key,
        service_id,
        poll,
        endpoint,
        region,
        root or Credentials("", ""),
        signer,
        bucket,
    )


def _parse_api_url(text: str) -> str:
    """https, or plain http to a loopback stand-in (tests): the API key travels in it."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
    if not parts.netloc or not (parts.scheme == "https" or loopback):
        raise ValueError(f"{text!r}: use https://api.render.com/v1 (plain http only on loopback)")
    return url


def load(environ: Mapping[str, str], *, target: str) -> RotationSettings:
    """Validate everything the chosen target needs; ConfigError lists every problem."""
    env_path = stack_mod.env_file_path(environ)
    dotenv = envfile.read(env_path) if env_path.exists() else {}
    stack = stack_mod.load(environ, dotenv)
    env = Env(environ)
    timeout = env.duration("ROTATION_TIMEOUT", DEFAULT_TIMEOUT)
    if timeout <= 0:
        env.problem("ROTATION_TIMEOUT", "must be longer than 0s, e.g. 5m")
    render = _render(env) if target == "render" else None
    env.raise_if_invalid()
    # What restarted processes inherit: never the Render API key.
    inherited = {k: v for k, v in environ.items() if not k.startswith("RENDER_")}
    return RotationSettings(stack, inherited, timeout, render)
