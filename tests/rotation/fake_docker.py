"""A stand-in for the `docker` CLI, for the compose target's contract test.

There is no Docker engine where the tests run. This script is put on PATH as ``docker``; the
rotation runs it as a real subprocess, exactly as it would run Docker. It records every
command line (to check the contract: which command, which file, which service) and, for
``docker compose ... --env-file FILE up --detach minio``, does what Compose would do to the
minio service: it recreates it with the root credentials FILE now holds (unless its own
environment holds others: Compose's interpolation prefers those). "Recreating" means
stopping the MinIO process it started last and starting the real MinIO binary again on the
same data and port, which is the part of Compose's behaviour the rotation depends on.

State lives in $FAKE_DOCKER_STATE: calls.jsonl, minio.pid, minio.log, data/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dotenv import dotenv_values


def _stop(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _recreate_minio(state: Path, env_file: Path) -> None:
    # As Compose interpolates docker-compose.yaml's ${NAME:-}: a value in its own environment
    # wins over --env-file's.
    config = {k: v or "" for k, v in dotenv_values(env_file).items()}
    config.update({k: v for k, v in os.environ.items() if k.startswith("MINIO_")})
    _stop(state / "minio.pid")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
    env.update(
        MINIO_ROOT_USER=config["MINIO_ROOT_USER"],
        MINIO_ROOT_PASSWORD=config["MINIO_ROOT_PASSWORD"],
        MINIO_UPDATE="off",
    )
    # Compose's env_file hands MinIO the whole .env, its KMS key included (env-init writes it
    # in MinIO's own name:base64 form).
    if config.get("MINIO_KMS_SECRET_KEY"):
        env["MINIO_KMS_SECRET_KEY"] = config["MINIO_KMS_SECRET_KEY"]
    with open(state / "minio.log", "ab") as log:
        proc = subprocess.Popen(
            [
                os.environ["FAKE_DOCKER_MINIO"],
                "server",
                str(state / "data"),
                "--address",
                f"127.0.0.1:{os.environ['STACK_API_PORT']}",
                "--console-address",
                f"127.0.0.1:{os.environ['FAKE_DOCKER_CONSOLE_PORT']}",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (state / "minio.pid").write_text(str(proc.pid))


def main(argv: list[str]) -> int:
    state = Path(os.environ["FAKE_DOCKER_STATE"])
    with open(state / "calls.jsonl", "a") as calls:
        calls.write(json.dumps(argv) + "\n")
    if argv[:1] != ["compose"]:
        print("fake docker: only `docker compose` is implemented", file=sys.stderr)
        return 1
    args = argv[1:]
    env_file = Path(args[args.index("--env-file") + 1])
    if "up" in args and "minio" in args[args.index("up") :]:
        _recreate_minio(state, env_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
