"""MinIO's server-wide ``api`` configuration, the home of two bootstrap settings.

On MinIO, CORS (``cors_allow_origin``) and stale multipart upload expiry
(``stale_uploads_expiry``) are not bucket settings but keys of the ``api`` config subsystem.
bootstrap writes them through the admin API (``config_set``): the value is stored in MinIO's
config on its data disk, so it survives restarts, and the ``api`` subsystem is dynamic, so it
applies at once without a restart.

Two facts shape this module:

* A ``MINIO_API_<KEY>`` variable in the *server's* environment overrides the stored value,
  and ``config_get`` shows it as a ``# MINIO_API_<KEY>=value`` line. ``read`` returns both, so
  a step reports the value MinIO really uses and can say when the environment wins.
* MinIO's ``config_set`` is read-modify-write of the whole config with no lock. Two
  bootstraps setting *different* keys at the same moment could each undo the other's key. So
  every write carries all the keys bootstrap manages (``ApiConfig.desired``): concurrent
  writers then write the same thing and any interleaving ends in the declared state.

Reading is costly: MinIO encrypts each ``config_get`` answer with a key derived by argon2id
from the root secret, and minio-py derives it again to decrypt (0.1-0.2 s a read). Two steps
(cors, uploads) plan from this config and verify it, so a run reads it once
(``read_for_run``) and reads it again only after it wrote it (``write_for_run``): when a run
changed nothing, the value it planned from is the server's state.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from minio import MinioAdmin

if TYPE_CHECKING:
    from bootstrap.s3 import Clients
    from bootstrap.step import Change

SUBSYS = "api"
_MEMO = "minio_api.values"  # the key in Clients.memo
CORS_ALLOW_ORIGIN = "cors_allow_origin"
STALE_UPLOADS_EXPIRY = "stale_uploads_expiry"
MANAGED = (CORS_ALLOW_ORIGIN, STALE_UPLOADS_EXPIRY)


def env_name(key: str) -> str:
    return f"MINIO_API_{key.upper()}"


@dataclass(frozen=True)
class ApiValue:
    """One key as MinIO holds it: stored by the admin API, and/or overridden by the env."""

    key: str
    stored: str | None = None
    env: str | None = None

    @property
    def effective(self) -> str | None:
        return self.env if self.env is not None else self.stored

    def observe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.effective,
            "source": "env" if self.env is not None else "config",
        }
        if self.env is not None:
            out["env"] = env_name(self.key)
        return out


def parse(text: str) -> dict[str, ApiValue]:
    """Parse ``config_get("api")`` output: ``# MINIO_API_X=v`` lines, then ``api k=v ...``."""
    stored: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            name, sep, value = line.lstrip("# ").partition("=")
            if sep and name.startswith("MINIO_API_"):
                env[name[len("MINIO_API_") :].lower()] = value
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        if not words or words[0] != SUBSYS:
            continue
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if sep:
                stored[key] = value
    keys = set(stored) | set(env)
    return {k: ApiValue(k, stored.get(k), env.get(k)) for k in keys}


def read(admin: MinioAdmin) -> dict[str, ApiValue]:
    """The managed keys as the server holds them (a key MinIO does not list reads as unset)."""
    values = parse(admin.config_get(SUBSYS))
    return {k: values.get(k, ApiValue(k)) for k in MANAGED}


@dataclass(frozen=True)
class ApiConfig:
    """The managed ``api`` keys' declared values; every write sends all of them."""

    desired: Mapping[str, str]

    def write(self, admin: MinioAdmin) -> None:
        admin.config_set(SUBSYS, dict(self.desired))


def read_for_run(clients: Clients) -> dict[str, ApiValue]:
    """``read``, once per run until this run writes the config (then once more)."""
    values = clients.memo.get(_MEMO)
    if values is None:
        values = clients.retry(read, clients.admin)
        clients.memo[_MEMO] = values
    return values


def write_for_run(clients: Clients, api: ApiConfig) -> None:
    """``api.write``; the next ``read_for_run`` reads the server again."""
    # Forgotten first: a write that fails half-way leaves the server's state unknown.
    clients.memo.pop(_MEMO, None)
    clients.retry(api.write, clients.admin)


class WritesApi(Protocol):
    """The desired state of a step kept in the ``api`` config: it carries the whole config."""

    @property
    def api(self) -> ApiConfig: ...


def apply_step(clients: Clients, desired: WritesApi, changes: list[Change]) -> list[Change]:
    """The ``apply`` of the steps kept in the ``api`` config (cors, uploads): one write of the
    whole run's config (``desired.api``), so concurrent runs write the same thing."""
    if changes:
        write_for_run(clients, desired.api)
    return changes
