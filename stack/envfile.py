"""Create ``.env`` from the committed ``.env.example``, with every secret generated.

``.env.example`` leaves each secret empty; the copy gets a fresh random value for it
(Python's ``secrets``), so no two deployments share a password and none is ``minioadmin``.
An existing ``.env`` is never touched: the file is created with ``O_EXCL`` and mode 0600,
so a second run, or two at once, cannot overwrite credentials MinIO already uses.

``is_managed`` says which variables are .env's to set: the programs the stack starts get those
from .env alone, never from the shell.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from bootstrap.settings import generate_kms_key
from common.errors import ConfigError, StackError

ENV_MODE = 0o600


# Variables .env configures (and the stack's own wiring sets): the shell's values of these never
# reach a program the stack starts, natively or through Compose, so .env alone decides them.
# STACK_* are the exception where the shell comes first (stack/settings.py).
MANAGED_PREFIXES = (
    "MINIO_",
    "SIGNER_",
    "CONSOLE_",
    "CORS_",
    "BOOTSTRAP_",
    "BUCKET_",
    "MULTIPART_",
    "S3_",
    "STACK_",
)
MANAGED_NAMES = frozenset({"PORT"})


def is_managed(name: str) -> bool:
    return name in MANAGED_NAMES or name.startswith(MANAGED_PREFIXES)


def _password() -> str:
    # 40 URL-safe characters: MinIO's longest generated secret, no '=' or ',' to escape.
    return secrets.token_urlsafe(30)


def _api_token() -> str:
    return secrets.token_urlsafe(24)


def _token_secret() -> str:
    return secrets.token_urlsafe(32)


# Every secret .env.example leaves empty, and how its value is made.
GENERATED: dict[str, Callable[[], str]] = {
    "MINIO_ROOT_PASSWORD": _password,
    # MinIO's own name:base64 form, so plain MinIO (the distributed Compose nodes) takes it too.
    "MINIO_KMS_SECRET_KEY": generate_kms_key,
    "SIGNER_SECRET_KEY": _password,
    "SIGNER_API_TOKENS": _api_token,
    "SIGNER_TOKEN_SECRETS": _token_secret,
}

_ASSIGNMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class EnvInit:
    path: Path
    created: bool
    generated: tuple[str, ...]  # the variables that got a generated value


def fill_secrets(
    example: str, generate: dict[str, Callable[[], str]] = GENERATED
) -> tuple[str, list[str]]:
    """The example's text with each empty generated secret filled in (comments kept)."""
    lines, filled = [], []
    for line in example.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match["key"] in generate and not match["value"].strip():
            line = f"{match['key']}={generate[match['key']]()}"
            filled.append(match["key"])
        lines.append(line)
    return "\n".join(lines) + "\n", filled


def init(path: Path, example: Path) -> EnvInit:
    """Create ``path`` from ``example`` unless it exists; never overwrite it."""
    if path.exists():
        return EnvInit(path, created=False, generated=())
    try:
        text = example.read_text()
    except OSError as exc:
        raise StackError(
            f"cannot read {example}: {exc.strerror}",
            hint="run from a checkout of minio-stack, which ships .env.example",
        ) from None
    content, filled = fill_secrets(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, ENV_MODE)
    except FileExistsError:  # created meanwhile by another `make up`: theirs stands
        return EnvInit(path, created=False, generated=())
    with os.fdopen(fd, "w") as out:
        out.write(content)
    os.chmod(path, ENV_MODE)  # O_CREAT's mode is filtered by the umask
    return EnvInit(path, created=True, generated=tuple(filled))


def read(path: Path) -> dict[str, str]:
    """The variables of an env file (unset or empty ones left out)."""
    if not path.exists():
        raise ConfigError(
            [(str(path), "does not exist; run `minio-stack env-init` (or `make up`)")]
        )
    return {k: v for k, v in dotenv_values(path).items() if v not in (None, "")}
