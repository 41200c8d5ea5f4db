"""Where `make up` runs the stack: ports, data and env file, read once from the environment.

STACK_* variables come from the shell first, then from ``.env`` (the same precedence Docker
Compose gives its interpolation), then the defaults. Relative paths are relative to the
checkout, so `minio-stack up` behaves the same from any directory.

Environment (defaults in brackets):
    STACK_API_PORT [9000]            MinIO's S3 API on 127.0.0.1
    STACK_CONSOLE_PORT [9090]        the console, through the nginx proxy, on 127.0.0.1
    STACK_SIGNER_PORT [8080]         the signer's HTTP API on 127.0.0.1
    STACK_MINIO_CONSOLE_PORT [9001]  MinIO's own console port behind the proxy (native only)
    STACK_DATA_DIR [.data]           MinIO's data, nginx's prefix, logs and pid files (native)
    STACK_ENV_FILE [.env]            the configuration file `make up` creates on first run
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.envconfig import Env
from common.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"

DEFAULT_PORTS = {
    "STACK_API_PORT": 9000,
    "STACK_CONSOLE_PORT": 9090,
    "STACK_SIGNER_PORT": 8080,
    "STACK_MINIO_CONSOLE_PORT": 9001,
}
VARIABLES = (*DEFAULT_PORTS, "STACK_DATA_DIR", "STACK_ENV_FILE")


def parse_port(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a TCP port; use a number from 1 to 65535")
    return int(text)


@dataclass(frozen=True)
class StackSettings:
    api_port: int
    console_port: int
    signer_port: int
    minio_console_port: int
    data_dir: Path
    env_file: Path
    root: Path = ROOT

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def console_url(self) -> str:
        return f"http://{LOOPBACK}:{self.console_port}"

    @property
    def signer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.signer_port}"

    @property
    def env_example(self) -> Path:
        return self.root / ".env.example"

    def ports(self) -> dict[str, int]:
        return {
            "STACK_API_PORT": self.api_port,
            "STACK_CONSOLE_PORT": self.console_port,
            "STACK_SIGNER_PORT": self.signer_port,
            "STACK_MINIO_CONSOLE_PORT": self.minio_console_port,
        }


def env_file_path(environ: Mapping[str, str], root: Path = ROOT) -> Path:
    """The env file's path: needed before the file itself can be read."""
    return root / (Env(environ).str("STACK_ENV_FILE") or ".env")


def load(environ: Mapping[str, str], dotenv: Mapping[str, str], root: Path = ROOT) -> StackSettings:
    """STACK_* from the shell, else .env, else the defaults; ConfigError lists every problem."""
    stack, problems = read(environ, dotenv, root)
    if problems:
        raise ConfigError(problems)
    return stack


def read(
    environ: Mapping[str, str], dotenv: Mapping[str, str], root: Path = ROOT
) -> tuple[StackSettings, list[tuple[str, str]]]:
    """``load`` without raising: the settings, with each bad value at its default, and every
    problem. `up` goes on to check the programs' own settings, so one run lists them all."""
    merged = {k: v for k, v in dotenv.items() if k in VARIABLES}
    merged.update({k: v for k, v in environ.items() if k in VARIABLES and v})
    env = Env(merged)
    ports = {name: env.parsed(name, parse_port, default) for name, default in DEFAULT_PORTS.items()}
    unparsed = {name for name, _ in env.problems}  # at their defaults: not what the user chose
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if name in unparsed:
            continue
        if port in seen:
            env.problem(name, f"port {port} is also {seen[port]}; give each service its own port")
        seen.setdefault(port, name)
    data_dir = root / (env.str("STACK_DATA_DIR", ".data") or ".data")
    stack = StackSettings(
        api_port=ports["STACK_API_PORT"],
        console_port=ports["STACK_CONSOLE_PORT"],
        signer_port=ports["STACK_SIGNER_PORT"],
        minio_console_port=ports["STACK_MINIO_CONSOLE_PORT"],
        data_dir=data_dir,
        env_file=env_file_path(environ, root),
        root=root,
    )
    return stack, list(env.problems)
