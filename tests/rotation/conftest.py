"""Fixtures for the rotation tests: the real native stack, run once for the package.

The stack is `minio-stack up --mode native` in a temp dir on free ports (its own .env, data
and pid files), so it never meets a developer's stack. Every rotation test leaves it
consistent (rotated, or rolled back), and reads the current credentials from its .env.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.minio_server import MINIO_BINARY
from tests.console.nginx_proxy import NGINX
from tests.native_stack import native_env
from tests.rotation.stack import NativeStack


@pytest.fixture(scope="package")
def native_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    if not MINIO_BINARY.exists():
        pytest.skip(f"{MINIO_BINARY} missing: run make minio")
    if not NGINX.exists():
        pytest.skip(f"{NGINX} not installed (apt-get install nginx)")
    home = tmp_path_factory.mktemp("native-stack")
    stack = NativeStack(home, native_env(home))
    up = stack.run("up", "--mode", "native")
    assert up.returncode == 0, up.stderr + up.stdout
    yield stack
    stack.tear_down()
