"""Fixtures for the rotation tests: the real native stack, run once for the package.

The stack is `minio-stack up --mode native` in a temp dir on free ports (its own .env, data
and pid files), so it never meets a developer's stack. Every rotation test leaves it
consistent (rotated, or rolled back), and reads the current credentials from its .env.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.minio_server import MINIO_BINARY, free_port
from tests.ops.stack import CLI, NativeStack

NGINX = Path("/usr/sbin/nginx")


@pytest.fixture(scope="package")
def native_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    if not MINIO_BINARY.exists():
        pytest.skip(f"{MINIO_BINARY} missing: run make minio")
    if not NGINX.exists():
        pytest.skip(f"{NGINX} not installed (apt-get install nginx)")
    home = tmp_path_factory.mktemp("native-stack")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STACK_", "MINIO_", "SIGNER_", "RENDER_", "ROTATION_"))
    }
    env.update(
        STACK_ENV_FILE=str(home / ".env"),
        STACK_DATA_DIR=str(home / "data"),
        STACK_API_PORT=str(free_port()),
        STACK_CONSOLE_PORT=str(free_port()),
        STACK_SIGNER_PORT=str(free_port()),
        STACK_MINIO_CONSOLE_PORT=str(free_port()),
    )
    stack = NativeStack(home, env)
    up = stack.run("up", "--mode", "native")
    assert up.returncode == 0, up.stderr + up.stdout
    yield stack
    subprocess.run([str(CLI), "down", "--mode", "native"], env=env, capture_output=True, timeout=60)
    for proc in psutil.process_iter(["cmdline"]):  # never leave a stack behind
        if any(str(home) in arg for arg in proc.info["cmdline"] or ()):
            proc.send_signal(signal.SIGKILL)
