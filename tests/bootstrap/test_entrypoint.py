"""entrypoint: MinIO as a child of ``minio-stack entrypoint``, with the real binary on loopback."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from bootstrap.entrypoint import (
    RunAs,
    address_of,
    check_writable,
    child_env,
    data_dirs,
    endpoint_for,
    exit_code_of,
    parse_run_as,
    prepare_data_dirs,
)
from bootstrap.settings import generate_kms_key, load, minio_kms_key
from common.errors import ConfigError
from harness.minio_server import MINIO_BINARY, free_port
from minio import Minio
from tests.bootstrap.conftest import APP_ORIGIN, MINIO_STACK, env_for, process_env

ROOT_USER, ROOT_PASSWORD = "root-entry", "root-entry-secret"
# As Render's generateValue gives it: a plain secret, which the entrypoint turns into a key.
KMS_SECRET = "entrypoint-test-kms-secret-0123456789abcdef"


# --- pure -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "endpoint"),
    [
        (["minio", "server", "/data"], "http://127.0.0.1:9000"),
        (["minio", "server", "/data", "--address", ":9100"], "http://127.0.0.1:9100"),
        (["minio", "server", "--address=0.0.0.0:9200", "/data"], "http://127.0.0.1:9200"),
        (["minio", "server", "--address", "127.0.0.2:9300", "/d"], "http://127.0.0.2:9300"),
        (["minio", "server", "--address", "[::1]:9400", "/d"], "http://[::1]:9400"),
    ],
)
def test_endpoint_derived_from_address(command, endpoint):
    assert endpoint_for(address_of(command)) == endpoint


def test_minio_endpoint_overrides_the_derived_one():
    environ = env_for(None, MINIO_ROOT_USER="root-user", MINIO_ROOT_PASSWORD="root-password-1")
    derived = endpoint_for(address_of(["minio", "server", "--address", ":9100", "/d"]))
    assert load(environ, default_endpoint=derived).endpoint == "http://127.0.0.1:9100"
    explicit = {**environ, "MINIO_ENDPOINT": "http://minio.internal:9000"}
    assert load(explicit, default_endpoint=derived).endpoint == "http://minio.internal:9000"


def test_bad_address():
    with pytest.raises(ConfigError, match="--address"):
        endpoint_for("nonsense")


def test_child_env_resolves_root_files_and_drops_signer_secret(tmp_path):
    (tmp_path / "pw").write_text("root-from-file-1")
    environ = env_for(
        None,
        MINIO_ROOT_USER="root-user",
        MINIO_ROOT_PASSWORD_FILE=str(tmp_path / "pw"),
        MINIO_BROWSER="off",
    )
    env = child_env(environ, load(environ))
    assert env["MINIO_ROOT_PASSWORD"] == "root-from-file-1"
    assert "MINIO_ROOT_PASSWORD_FILE" not in env
    assert "SIGNER_SECRET_KEY" not in env and "SIGNER_ACCESS_KEY" not in env
    assert env["MINIO_BROWSER"] == "off"  # everything else reaches MinIO unchanged


def test_child_env_gives_minio_its_kms_key_in_minios_form(tmp_path):
    (tmp_path / "kms").write_text(KMS_SECRET)
    environ = env_for(
        None,
        MINIO_ROOT_USER="root-user",
        MINIO_ROOT_PASSWORD="root-password-1",
        MINIO_KMS_SECRET_KEY_FILE=str(tmp_path / "kms"),
    )
    env = child_env(environ, load(environ, starts_minio=True))
    assert env["MINIO_KMS_SECRET_KEY"] == minio_kms_key(KMS_SECRET)
    assert env["MINIO_KMS_SECRET_KEY"].startswith("minio-stack:")
    assert "MINIO_KMS_SECRET_KEY_FILE" not in env  # MinIO would read the plain secret
    kept = generate_kms_key()
    environ = {**environ, "MINIO_KMS_SECRET_KEY": kept, "MINIO_KMS_SECRET_KEY_FILE": ""}
    assert child_env(environ, load(environ, starts_minio=True))["MINIO_KMS_SECRET_KEY"] == kept


def test_exit_code_of_signals():
    assert exit_code_of(0) == 0 and exit_code_of(3) == 3
    assert exit_code_of(-signal.SIGKILL) == 128 + 9


def test_child_env_keeps_every_signer_secret_from_minio():
    # `docker run --env-file .env` hands the container the whole file.
    environ = env_for(
        None,
        MINIO_ROOT_USER="root-user",
        MINIO_ROOT_PASSWORD="root-password-1",
        SIGNER_API_TOKENS="token-a,token-b",
        SIGNER_TOKEN_SECRETS="intent-secret-0123456789abcdef",
        SIGNER_API_TOKENS_FILE="/run/secrets/tokens",
    )
    env = child_env(environ, load(environ))
    assert not [name for name in env if name.startswith("SIGNER_")]


# --- privileges and data directories (issue 13, defect 6) ---------------------------------------

RUN_AS = RunAs(10001, 10001)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="chown needs root; tests/containers/test_minio.py checks the same in the image",
)


@pytest.mark.parametrize(
    ("command", "dirs"),
    [
        (["minio", "server", "/data", "--console-address", ":9001"], ["/data"]),
        (["minio", "server", "--address", ":9100", "/data"], ["/data"]),
        (["minio", "server", "--address=:9100", "--quiet", "/data"], ["/data"]),
        # A flag's value is not a drive, even when it is a path.
        (["minio", "server", "--certs-dir", "/certs", "/data"], ["/data"]),
        (["minio", "--certs-dir", "/certs", "server", "/data"], ["/data"]),
        (["minio", "server", "/d{1...3}"], ["/d1", "/d2", "/d3"]),
        (["minio", "server", "/d{08...10}"], ["/d08", "/d09", "/d10"]),
        (["minio", "server", "/n{1...2}/d{a...b}"], ["/n1/da", "/n1/db", "/n2/da", "/n2/db"]),
        (["minio", "server", "/data", "/data"], ["/data"]),
        # Remote or this node's: MinIO decides, so nothing is prepared.
        (["minio", "server", "http://minio{1...4}:9000/data{1...2}"], []),
        (["minio", "server", "relative/dir"], []),
        (["minio", "--version"], []),
    ],
)
def test_data_dirs_are_the_local_drives_minio_server_is_given(command, dirs):
    assert data_dirs(command) == [Path(d) for d in dirs]


def test_run_as_is_numeric_uid_and_gid():
    assert parse_run_as("10001:10001") == RUN_AS and str(RUN_AS) == "10001:10001"
    for bad in ("minio", "10001", "10001:", "minio:minio", "-1:5"):
        with pytest.raises(ConfigError, match="--run-as"):
            parse_run_as(bad)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any user can enter (pytest's own tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="entrypoint-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def owners(top: Path) -> dict[str, str]:
    out = {}
    for path in [top, *top.rglob("*")]:
        st = path.lstat()
        out[str(path.relative_to(top))] = f"{st.st_uid}:{st.st_gid}"
    return out


@needs_root
def test_a_root_owned_tree_is_given_to_the_user_once(open_dir, capsys):
    disk = open_dir / "disk"
    (disk / ".minio.sys").mkdir(parents=True, mode=0o700)
    (disk / ".minio.sys" / "format.json").write_text("{}")
    (disk / "lost+found").mkdir(mode=0o700)
    outside = open_dir / "outside"
    outside.write_text("not MinIO's")
    (disk / "link").symlink_to(outside)
    disk.chmod(0o500)  # even without write permission for its owner

    prepare_data_dirs([disk], RUN_AS)
    assert set(owners(disk).values()) == {"10001:10001"}
    assert outside.stat().st_uid == 0  # a link is chowned, never what it points to
    assert disk.stat().st_mode & 0o700 == 0o700
    line = capsys.readouterr().err.strip()
    assert (
        line == f'minio-stack event=prepare dir={disk} action="chown 10001:10001" was=0:0 entries=5'
    )

    # The directory's own owner says it was done: a later start walks nothing below it.
    os.chown(disk / ".minio.sys" / "format.json", 0, 0)
    prepare_data_dirs([disk], RUN_AS)
    assert (disk / ".minio.sys" / "format.json").stat().st_uid == 0
    assert capsys.readouterr().err == ""


@needs_root
def test_a_missing_drive_is_created_for_the_user(open_dir, capsys):
    drive = open_dir / "new" / "drive"
    prepare_data_dirs([drive], RUN_AS)
    assert owners(drive) == {".": "10001:10001"}
    assert (open_dir / "new").stat().st_uid == 0  # only the drive itself is the user's
    assert 'action="created for 10001:10001"' in capsys.readouterr().err


# check_writable's refusal needs a process that is not root, and this machine's interpreter
# may live where no other user can reach (pyenv under /root): tests/containers/test_minio.py
# runs the image with --user 10001:10001 on a root-owned disk instead.
def test_check_writable_accepts_a_writable_or_creatable_directory(open_dir):
    check_writable([open_dir, open_dir / "missing" / "drive"])


# --- the real binary ----------------------------------------------------------------------------


class Entrypoint:
    """``minio-stack entrypoint -- minio server ...`` as a process, its stderr collected live."""

    def __init__(self, data: Path, log: Path, *options: str, **env: str | None) -> None:
        self.port, self.console = free_port(), free_port()
        environ = env_for(
            None,
            MINIO_ROOT_USER=ROOT_USER,
            MINIO_ROOT_PASSWORD=ROOT_PASSWORD,
            BOOTSTRAP_TIMEOUT="60s",
            **{"MINIO_KMS_SECRET_KEY": KMS_SECRET, **env},
        )
        command = [
            str(MINIO_STACK), "entrypoint", *options, "--",
            str(MINIO_BINARY), "server", str(data),
            "--address", f"127.0.0.1:{self.port}", "--console-address", f"127.0.0.1:{self.console}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            env=process_env(environ),
            stdout=log.open("ab"),
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if re.search(pattern, line)), None)
            if found:
                return found
            if self.proc.poll() is not None:
                self._reader.join(5)
                found = next((line for line in self.lines if re.search(pattern, line)), None)
                if found:
                    return found
                raise AssertionError(
                    f"exited {self.proc.returncode} before {pattern!r}:\n" + self.text
                )
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n" + self.text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def minio_pid(self) -> int:
        return int(re.search(r"pid=(\d+)", self.wait_for("event=minio-started")).group(1))

    def client(self) -> Minio:
        return Minio(
            f"127.0.0.1:{self.port}", ROOT_USER, ROOT_PASSWORD, secure=False, region="us-east-1"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def entrypoints():
    started: list[Entrypoint] = []
    yield started
    for ep in started:
        ep.kill()
        # Never leave a MinIO behind, even when a test failed half-way.
        pid_line = next((line for line in ep.lines if "event=minio-started" in line), None)
        if pid_line:
            pid = int(re.search(r"pid=(\d+)", pid_line).group(1))
            if not gone(pid):
                psutil.Process(pid).kill()


def test_bucket_ready_sigterm_and_objects_survive_restart(tmp_path, entrypoints):
    data = tmp_path / "data"
    ep = Entrypoint(data, tmp_path / "minio.log")
    entrypoints.append(ep)
    ep.wait_for("event=bootstrap status=ok")
    assert "step=bucket target=uploads status=created" in ep.text
    assert ep.client().bucket_exists("uploads")
    ep.client().put_object("uploads", "kept.txt", io.BytesIO(b"kept"), 4)
    pid = ep.minio_pid
    assert ep.stop(signal.SIGTERM, timeout=10) == 0
    assert gone(pid)
    assert "event=minio-exited code=0" in ep.text

    again = Entrypoint(data, tmp_path / "minio.log")
    entrypoints.append(again)
    again.wait_for("event=bootstrap status=ok")
    steps = [line for line in again.lines if "event=step" in line]
    assert steps and all("status=unchanged" in line for line in steps), again.text
    # Encrypted at rest with the key derived from the plain secret, and the same secret
    # derives the same key after the restart: the object reads back.
    stat = again.client().stat_object("uploads", "kept.txt")
    assert stat.metadata["x-amz-server-side-encryption"] == "AES256"
    assert again.client().get_object("uploads", "kept.txt").read() == b"kept"
    assert again.stop(signal.SIGINT) == 0
    logged = ep.text + again.text + (tmp_path / "minio.log").read_text()
    assert KMS_SECRET not in logged and minio_kms_key(KMS_SECRET).split(":")[1] not in logged


def test_failing_bootstrap_stops_minio_and_exits_non_zero(tmp_path, entrypoints):
    # Valid settings, but MinIO's own environment contradicts them: found only at converge time.
    ep = Entrypoint(
        tmp_path / "data",
        tmp_path / "minio.log",
        MINIO_API_CORS_ALLOW_ORIGIN="https://other.example",
    )
    entrypoints.append(ep)
    pid = ep.minio_pid
    assert ep.proc.wait(60) == 1
    ep._reader.join(5)
    line = ep.wait_for("event=bootstrap status=failed")
    assert "step=cors[server]" in line and "MINIO_API_CORS_ALLOW_ORIGIN" in line
    assert gone(pid)


def test_invalid_settings_exit_2_before_minio_starts(tmp_path, entrypoints):
    ep = Entrypoint(
        tmp_path / "data",
        tmp_path / "minio.log",
        MINIO_BUCKET="Bad_Name",
        MULTIPART_ABORT_AFTER="soon",
        MINIO_KMS_SECRET_KEY=None,
    )
    entrypoints.append(ep)
    assert ep.proc.wait(30) == 2
    ep._reader.join(5)
    (line,) = ep.lines
    assert line.startswith("Error: invalid configuration: MINIO_BUCKET:")
    # Every bad variable at once, the missing KMS key (SSE-S3 is the default) among them.
    assert "MULTIPART_ABORT_AFTER" in line and "MINIO_KMS_SECRET_KEY: is not set" in line
    assert not (tmp_path / "data").exists()  # MinIO never ran


def test_a_bad_kms_key_exits_2_without_showing_it(tmp_path, entrypoints):
    ep = Entrypoint(
        tmp_path / "data", tmp_path / "minio.log", MINIO_KMS_SECRET_KEY="my-key:Zm9vYmFyc2VjcmV0"
    )
    entrypoints.append(ep)
    assert ep.proc.wait(30) == 2
    ep._reader.join(5)
    (line,) = ep.lines
    assert line.startswith("Error: invalid configuration: MINIO_KMS_SECRET_KEY:")
    assert "base64 of exactly 32 bytes" in line and "Zm9vYmFyc2VjcmV0" not in line
    assert not (tmp_path / "data").exists()


def test_non_strict_keeps_serving_after_a_failed_bootstrap(tmp_path, entrypoints):
    ep = Entrypoint(
        tmp_path / "data",
        tmp_path / "minio.log",
        MINIO_API_CORS_ALLOW_ORIGIN="https://other.example",
        CORS_ALLOWED_ORIGINS=APP_ORIGIN,
        BOOTSTRAP_STRICT="false",
    )
    entrypoints.append(ep)
    line = ep.wait_for("event=bootstrap status=failed")
    assert "level=error" in line and "BOOTSTRAP_STRICT=false" in line
    live = requests.get(f"http://127.0.0.1:{ep.port}/minio/health/live", timeout=10)
    assert live.status_code == 200 and ep.proc.poll() is None
    assert ep.stop() == 0


def test_the_endpoint_file_leads_the_health_check_to_the_address_minio_listens_on(
    tmp_path, entrypoints
):
    endpoint_file = tmp_path / "run" / "endpoint"
    ep = Entrypoint(
        tmp_path / "data", tmp_path / "minio.log", "--endpoint-file", str(endpoint_file)
    )
    entrypoints.append(ep)
    ep.wait_for("event=bootstrap status=ok")
    assert endpoint_file.read_text() == f"http://127.0.0.1:{ep.port}\n"
    check = [sys.executable, "-m", "bootstrap.health", "--endpoint-file", str(endpoint_file)]
    healthy = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout == f"live: http://127.0.0.1:{ep.port}\n"
    assert ep.stop() == 0
    # MinIO gone, the same file: unhealthy, in one line.
    sick = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert sick.returncode == 1
    assert sick.stderr == (
        f"unhealthy: http://127.0.0.1:{ep.port}/minio/health/live: connection refused\n"
    )
