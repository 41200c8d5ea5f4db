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

   Before that, with ``--run-as UID:GID`` (the image passes 10001:10001) and started as root:
   the data directories named in ``minio server``'s arguments are made the user's (a new
   disk is owned by root: Render mounts one at /data), then the process drops to UID:GID for
   good — supplementary groups, gid, uid, in that order — so MinIO and bootstrap never run
   as root. Not root (``docker run --user``): nothing is prepared, and a data directory the
   user cannot write stops the start with one line naming it and the fix. With
   ``--endpoint-file`` the address MinIO listens on is written down for the image's
   HEALTHCHECK (``python -m bootstrap.health``), since ``--address`` is configurable.
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

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bootstrap.converge import run as run_bootstrap
from bootstrap.health import DEFAULT_LIVE_ENDPOINT
from bootstrap.report import Report, StepReport, logfmt
from bootstrap.settings import KMS_KEY_VAR, Settings
from common.errors import ConfigError, ExitCode, PermanentError

DEFAULT_ADDRESS = ":9000"
STOP_GRACE_SECONDS = 15.0
# MinIO does not need these; keep the signer's secrets out of its environment. Compose gives
# this container only what bootstrap and MinIO read; `docker run --env-file .env` gives it all.
_NOT_FOR_MINIO = (
    "SIGNER_ACCESS_KEY",
    "SIGNER_ACCESS_KEY_FILE",
    "SIGNER_SECRET_KEY",
    "SIGNER_SECRET_KEY_FILE",
    "SIGNER_API_TOKENS",
    "SIGNER_API_TOKENS_FILE",
    "SIGNER_TOKEN_SECRETS",
    "SIGNER_TOKEN_SECRETS_FILE",
    "MINIO_ROOT_USER_FILE",
    "MINIO_ROOT_PASSWORD_FILE",
    # Resolved into MINIO_KMS_SECRET_KEY below; MinIO would read the raw file otherwise.
    KMS_KEY_VAR + "_FILE",
)


def log(**fields: Any) -> None:
    print(logfmt(fields), file=sys.stderr, flush=True)


# --- privileges and data directories ---------------------------------------------------------

# `minio server` flags (and MinIO's global ones) that take no value. Every other flag is
# followed by its value unless written --flag=value: taking an unknown flag's value for a
# data directory would chown whatever it names, while the opposite mistake only leaves a
# directory unprepared, which MinIO then reports.
_VALUELESS_FLAGS = frozenset(
    {"--quiet", "--anonymous", "--json", "--compat", "--no-compat", "--log-compress", "--help"}
)
_ELLIPSES = re.compile(r"\{([0-9a-f]*)\.\.\.([0-9a-f]*)\}")
# The directory bits the user needs on its own data directory: list, create, enter.
_OWNER_RWX = 0o700


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int

    def __str__(self) -> str:
        return f"{self.uid}:{self.gid}"


def parse_run_as(text: str) -> RunAs:
    """``UID:GID``, both numeric: a name would depend on the image's user database."""
    uid, sep, gid = text.partition(":")
    if not (sep and uid.isdigit() and gid.isdigit()):
        raise ConfigError([("--run-as", f"{text!r} is not UID:GID; e.g. --run-as 10001:10001")])
    return RunAs(int(uid), int(gid))


def _ellipses_range(start: str, end: str) -> list[str] | None:
    """MinIO's ``{a...b}``: decimal, else hexadecimal, zero-padded to ``end``'s width when
    either bound has a leading zero (minio/pkg ellipses.parseEllipsesRange)."""
    for base, form in ((10, "d"), (16, "x")):
        try:
            low, high = int(start, base), int(end, base)
        except ValueError:
            continue
        if low > high:
            return None
        padded = (start.startswith("0") and len(start) > 1) or end.startswith("0")
        spec = f"0{len(end)}{form}" if padded else form
        return [format(i, spec) for i in range(low, high + 1)]
    return None


def _expand(arg: str) -> list[str] | None:
    """Every path an argument with ellipses names (their product), or None if malformed."""
    pieces = _ELLIPSES.split(arg)
    ranges = []
    for start, end in zip(pieces[1::3], pieces[2::3], strict=True):
        seq = _ellipses_range(start, end)
        if seq is None:
            return None
        ranges.append(seq)
    out = []
    for combo in itertools.product(*ranges):
        text = pieces[0]
        for value, rest in zip(combo, pieces[3::3], strict=True):
            text += value + rest
        out.append(text)
    return out


def data_dirs(command: Sequence[str]) -> list[Path]:
    """The local directories ``minio server`` in ``command`` stores data in.

    Positional arguments after ``server`` that are absolute paths, ``{1...4}`` expanded as
    MinIO expands it. URLs (distributed MinIO) are left out: which of them are this node's is
    MinIO's to decide. ``MINIO_VOLUMES`` is not read: the image names its directory in CMD.
    """
    if "server" not in command:
        return []
    out: list[Path] = []
    args = iter(command[command.index("server") + 1 :])
    for arg in args:
        if arg.startswith("-"):
            if "=" not in arg and arg not in _VALUELESS_FLAGS:
                next(args, None)
            continue
        if arg.startswith("/"):
            out += [Path(p) for p in _expand(arg) or []]
    return list(dict.fromkeys(out))


def _tree(top: Path) -> Iterator[Path]:
    """``top`` and everything below it, never following a symbolic link."""
    yield top
    for parent, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            yield Path(parent, name)


def prepare_data_dirs(dirs: Sequence[Path], run_as: RunAs) -> None:
    """Make each data directory ``run_as``'s, as root, changing only what must change.

    Missing: created (parents stay root's), then given to the user. Already the user's: left
    alone, whatever is inside — one stat per directory on every later start, so a large data
    set is never walked again. Someone else's: a new disk (empty, or only lost+found) or a
    volume a root-run MinIO wrote, so everything below not yet the user's is given to it,
    once; the directory's own owner is the marker that this was done.
    """
    for path in dirs:
        try:
            _prepare(path, run_as)
        except OSError as exc:
            raise PermanentError(
                f"cannot prepare {path} for {run_as}: {exc.strerror}",
                hint="the container needs CAP_CHOWN (Docker's default) and a writable mount; "
                f"or run it as the user (--user {run_as}) with {path} already writable by it",
            ) from None


def _prepare(path: Path, run_as: RunAs) -> None:
    if not path.exists():
        path.mkdir(parents=True, mode=0o750)
        os.chown(path, run_as.uid, run_as.gid)
        log(event="prepare", dir=str(path), action=f"created for {run_as}")
        return
    st = path.stat()
    if (st.st_uid, st.st_gid) == (run_as.uid, run_as.gid):
        return
    changed = 0
    for entry in _tree(path):
        est = entry.lstat()
        if (est.st_uid, est.st_gid) != (run_as.uid, run_as.gid):
            os.lchown(entry, run_as.uid, run_as.gid)
            changed += 1
    if st.st_mode & _OWNER_RWX != _OWNER_RWX:
        path.chmod((st.st_mode | _OWNER_RWX) & 0o7777)
    log(
        event="prepare",
        dir=str(path),
        action=f"chown {run_as}",
        was=f"{st.st_uid}:{st.st_gid}",
        entries=changed,
    )


def drop_privileges(run_as: RunAs, environ: Mapping[str, str]) -> dict[str, str]:
    """Become ``run_as`` for good and return ``environ`` as that user's.

    Supplementary groups first and the uid last: each step needs the privilege the next one
    gives up, and root's groups (0 among them) must not survive the change of uid. HOME is
    the user's own (the image's minio user has /data), as the engine would set it had the
    image's USER been that user.
    """
    env = dict(environ)
    with contextlib.suppress(KeyError):  # a uid the image does not name keeps the HOME it had
        env["HOME"] = pwd.getpwuid(run_as.uid).pw_dir
    try:
        os.setgroups([])
        os.setgid(run_as.gid)
        os.setuid(run_as.uid)
    except OSError as exc:
        raise PermanentError(
            f"cannot become {run_as}: {exc.strerror}",
            hint="the container needs CAP_SETUID and CAP_SETGID (Docker's defaults), "
            f"or run it as the user: --user {run_as}",
        ) from None
    if os.getresuid() != (run_as.uid,) * 3 or os.getresgid() != (run_as.gid,) * 3:
        raise PermanentError(f"could not drop to {run_as}: still {os.getresuid()}")
    log(event="privileges", uid=run_as.uid, gid=run_as.gid, groups="none")
    return env


def check_writable(dirs: Sequence[Path]) -> None:
    """Each data directory (or, missing, the nearest directory above it, where MinIO will
    create it) is writable by this process; ConfigError naming each one otherwise."""
    problems = []
    uid, gid = os.geteuid(), os.getegid()
    for path in dirs:
        # os.access, not Path.exists: a directory below one this user cannot enter is
        # reported as that one, not as an error of its own.
        existing = next(p for p in (path, *path.parents) if os.access(p, os.F_OK))
        if os.access(existing, os.W_OK | os.X_OK):
            continue
        st = existing.stat()
        where = "it belongs to" if existing == path else f"{existing} above it belongs to"
        problems.append(
            (
                str(path),
                f"not writable by uid {uid} ({where} {st.st_uid}:{st.st_gid}); start the "
                "container as root, the image's default, so the entrypoint prepares it, or "
                f"give it to this user: chown -R {uid}:{gid} {existing}",
            )
        )
    if problems:
        raise ConfigError(problems)


def record_endpoint(path: Path, endpoint: str) -> None:
    """Write ``endpoint`` for the HEALTHCHECK: to a temporary file, then renamed over the old
    one, so a check running meanwhile reads the old endpoint or the new, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(endpoint + "\n")
        partial.chmod(0o644)
        partial.replace(path)
    except OSError as exc:
        log(
            event="warning",
            detail=f"cannot record the endpoint in {path}: {exc.strerror}",
            effect=f"the health check probes {DEFAULT_LIVE_ENDPOINT}, MinIO's default",
        )


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
    # Render tells a web service its own public URL; a MINIO_SERVER_URL typed in by hand is
    # the one to guess wrong (a taken onrender.com name), so it is needed only for another
    # name, such as a custom domain.
    if not env.get("MINIO_SERVER_URL") and env.get("RENDER_EXTERNAL_URL"):
        env["MINIO_SERVER_URL"] = env["RENDER_EXTERNAL_URL"]
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


def run(
    settings: Settings,
    command: Sequence[str],
    environ: Mapping[str, str],
    *,
    run_as: RunAs | None = None,
    endpoint_file: Path | None = None,
) -> int:
    """Start MinIO, bootstrap it, and return the process exit code.

    ``run_as``: when root, prepare the data directories for that user and become it first.
    ``endpoint_file``: where to write down the endpoint MinIO listens on.
    """
    if shutil.which(command[0]) is None:
        log(event="error", detail=f"cannot start {command[0]!r}: not found")
        raise ConfigError(
            [("command", f"{command[0]!r} is not an executable; e.g. -- minio server /data")]
        )
    dirs = data_dirs(command)
    if endpoint_file is not None:
        record_endpoint(endpoint_file, endpoint_for(address_of(command)))
    if run_as is not None and os.geteuid() == 0:
        prepare_data_dirs(dirs, run_as)
        environ = drop_privileges(run_as, environ)
    elif run_as is not None:
        log(
            event="prepare",
            status="skipped",
            reason=f"not root: running as {os.geteuid()}:{os.getegid()}, not {run_as}",
        )
    check_writable(dirs)
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
