"""The MinIO container's entrypoint: validate → start MinIO → bootstrap → stay its parent.

``minio-stack entrypoint -- minio server /data --console-address :9001``

1. Every setting is validated first (settings.py lists every bad variable at once), so a
   broken deploy fails before MinIO starts. That includes MinIO's KMS key: SSE-S3, the
   default, needs one, and a missing key is named here rather than by MinIO's 501 later.
2. MinIO starts as a child with the environment it was given, the root credentials resolved
   from ``*_FILE`` if used, and the signer's keys removed (MinIO does not need them).
   ``MINIO_KMS_SECRET_KEY`` reaches MinIO in MinIO's own ``name:base64`` form: a plain
   generated secret (Render's ``generateValue``) is turned into a key first
   (settings.minio_kms_key). The key is never logged.
3. bootstrap converges it, talking to the ``--address`` the child got (``:9000`` →
   ``http://127.0.0.1:9000``) unless ``MINIO_ENDPOINT`` is set. CORS and stale-upload expiry
   are written through the admin API, never handed to the child as ``MINIO_API_*``
   variables: the admin config is stored on the data disk (so it survives restarts), it is
   what the stand-alone ``minio-stack bootstrap`` writes too, and an environment variable
   would silently override later admin writes. A ``MINIO_API_*`` variable the operator sets
   still reaches MinIO; bootstrap then reports the value MinIO really uses, and fails when
   it contradicts the declared one.
4. If bootstrap fails, MinIO is stopped and the exit code is non-zero, so a deploy fails
   visibly; with ``BOOTSTRAP_STRICT=false`` MinIO keeps serving and the failure is logged.
5. Then it stays MinIO's parent: SIGTERM and SIGINT are forwarded, the child is reaped, and
   MinIO's exit code is returned (128+N when a signal N killed it).

Log lines are logfmt (``minio-stack event=... key=value``), one per step, on stderr.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

from bootstrap.converge import run as run_bootstrap
from bootstrap.report import Report, StepReport, logfmt
from bootstrap.settings import KMS_KEY_VAR, Settings
from common.errors import ConfigError, ExitCode

DEFAULT_ADDRESS = ":9000"
STOP_GRACE_SECONDS = 15.0
# MinIO does not need these; keep the signer's secret out of its environment.
_NOT_FOR_MINIO = (
    "SIGNER_ACCESS_KEY",
    "SIGNER_ACCESS_KEY_FILE",
    "SIGNER_SECRET_KEY",
    "SIGNER_SECRET_KEY_FILE",
    "MINIO_ROOT_USER_FILE",
    "MINIO_ROOT_PASSWORD_FILE",
    # Resolved into MINIO_KMS_SECRET_KEY below; MinIO would read the raw file otherwise.
    KMS_KEY_VAR + "_FILE",
)


def log(**fields: Any) -> None:
    print(logfmt(fields), file=sys.stderr, flush=True)


def address_of(command: Sequence[str]) -> str:
    """The value of MinIO's ``--address`` in ``command`` (``:9000`` when absent)."""
    for i, arg in enumerate(command):
        if arg == "--address" and i + 1 < len(command):
            return command[i + 1]
        if arg.startswith("--address="):
            return arg.split("=", 1)[1]
    return DEFAULT_ADDRESS


def endpoint_for(address: str) -> str:
    """Where a process beside MinIO reaches it: wildcard hosts become loopback."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            [("--address", f"{address!r} is not host:port or :port; e.g. --address :9000")]
        )
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - recognising a wildcard, not binding one
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def child_env(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in _NOT_FOR_MINIO}
    env["MINIO_ROOT_USER"] = settings.root.access_key
    env["MINIO_ROOT_PASSWORD"] = settings.root.secret_key
    if settings.kms_key is not None:
        env[KMS_KEY_VAR] = settings.kms_key
    return env


def exit_code_of(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class _Forwarder:
    """Forwards SIGTERM/SIGINT to the child, as PID 1 must."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self.received: int | None = None
        self._previous = {
            sig: signal.signal(sig, self._forward) for sig in (signal.SIGTERM, signal.SIGINT)
        }

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum
        if self.child.poll() is None:
            self.child.send_signal(signum)
        log(event="signal", signal=signal.Signals(signum).name, action="forwarded to minio")

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def stop(child: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> int:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            child.kill()
    return child.wait()


def run(settings: Settings, command: Sequence[str], environ: Mapping[str, str]) -> int:
    """Start MinIO, bootstrap it, and return the process exit code."""
    if shutil.which(command[0]) is None:
        log(event="error", detail=f"cannot start {command[0]!r}: not found")
        raise ConfigError(
            [("command", f"{command[0]!r} is not an executable; e.g. -- minio server /data")]
        )
    child = subprocess.Popen(list(command), env=child_env(environ, settings))
    forwarder = _Forwarder(child)
    log(event="minio-started", pid=child.pid, endpoint=settings.endpoint)
    try:
        return _supervise(settings, child, forwarder)
    finally:
        if child.poll() is None:  # only on an unexpected error: never leave MinIO behind
            stop(child)
        forwarder.restore()


def _supervise(settings: Settings, child: subprocess.Popen[bytes], forwarder: _Forwarder) -> int:
    result: dict[str, Report] = {}

    def work() -> None:
        result["report"] = run_bootstrap(settings, on_step=_log_step)

    worker = threading.Thread(target=work, name="bootstrap", daemon=True)
    worker.start()
    while worker.is_alive():
        if child.poll() is not None:
            log(event="minio-exited", code=child.returncode, during="bootstrap")
            return exit_code_of(child.returncode)
        worker.join(0.2)

    report = result.get("report")
    if forwarder.received is not None:
        pass  # asked to stop while bootstrapping: just let MinIO finish
    elif report is not None and report.ok:
        log(event="bootstrap", status="ok", steps=len(report.steps))
    else:
        failure = report.first_failure if report else None
        fields = {
            "event": "bootstrap",
            "status": "failed",
            "step": failure.label if failure else None,
            "detail": failure.detail if failure else "bootstrap stopped unexpectedly",
            "hint": failure.hint if failure else None,
        }
        if settings.strict:
            log(**fields, action="stopping minio (BOOTSTRAP_STRICT=true)")
            code = stop(child)
            log(event="minio-exited", code=code)
            return int(report.exit_code) if report else int(ExitCode.FAILED)
        log(
            **fields,
            level="error",
            action="serving anyway: BOOTSTRAP_STRICT=false; fix and restart",
        )

    code = child.wait()
    log(event="minio-exited", code=code)
    return exit_code_of(code)


def _log_step(report: StepReport) -> None:
    print(report.log_line(), file=sys.stderr, flush=True)
