"""Commands that act on the MinIO deployment: wait, bootstrap, entrypoint.

Each command imports what it runs (minio-py, requests, the settings) when it runs: the root
group imports every package's commands, and ``minio-stack --version`` or any other command
should not pay for loading them all.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from common.cli import CONTEXT, fail, json_option, package_group, plan_option
from common.errors import EXIT_CODES_HELP, ExitCode, StackError

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML file declaring several buckets (buckets: [{bucket: ..., cors_allowed_origins: "
    "[...], ...}]) instead of MINIO_BUCKET and friends; connection settings stay in the "
    "environment.",
)


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@click.option(
    "--endpoint",
    default="http://127.0.0.1:9000",
    show_default=True,
    help="MinIO API URL (scheme://host:port).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Give up after this many seconds.",
)
@json_option
def wait(endpoint: str, timeout: float, as_json: bool) -> None:
    """Wait until MinIO is live and fully initialised (health/live, then health/cluster)."""
    if not endpoint.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--endpoint")
    from bootstrap.health import wait_ready

    try:
        ready = wait_ready(endpoint, timeout)
    except StackError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(
            json.dumps({"ok": True, "endpoint": endpoint, "seconds": round(ready.seconds, 3)})
        )
    else:
        click.echo(f"{endpoint} is ready ({ready.seconds:.1f}s)")
    sys.exit(int(ExitCode.OK))


BOOTSTRAP_EPILOG = (
    "Configured from the environment: MINIO_ENDPOINT, MINIO_REGION, MINIO_ROOT_USER, "
    "MINIO_ROOT_PASSWORD, MINIO_BUCKET, CORS_ALLOWED_ORIGINS, CORS_ALLOW_ANY, "
    "MULTIPART_ABORT_AFTER, BUCKET_ENCRYPTION, SIGNER_ACCESS_KEY, SIGNER_SECRET_KEY (secrets "
    "also as *_FILE), BOOTSTRAP_TIMEOUT.\n\n" + EXIT_CODES_HELP
)


@click.command(context_settings=CONTEXT, epilog=BOOTSTRAP_EPILOG)
@plan_option
@json_option
@config_option
def bootstrap(plan: bool, as_json: bool, config_file: str | None) -> None:
    """Converge MinIO to its declared state, then verify it.

    Ensures a private bucket encrypted at rest, CORS for your origins, cleanup of stale
    multipart uploads and a least-privilege signer identity. Each step reports created,
    changed, unchanged, failed or skipped; a second run reports everything unchanged and
    writes nothing.
    """
    from bootstrap import settings as settings_mod
    from bootstrap.converge import run as run_bootstrap

    try:
        settings = settings_mod.load(os.environ, config_file=config_file)
    except StackError as exc:
        fail(exc, as_json)
    report = run_bootstrap(settings, plan=plan)
    click.echo(json.dumps(report.to_json()) if as_json else str(report))
    failure = report.first_failure
    if failure is not None:
        hint = f" ({failure.hint})" if failure.hint else ""
        click.echo(f"Error: {failure.label} failed: {failure.detail}{hint}", err=True)
    sys.exit(int(report.exit_code))


@click.command(
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="BOOTSTRAP_STRICT=false keeps MinIO serving when bootstrap fails. Otherwise the exit "
    "code is MinIO's own (128+N if signal N killed it), or: " + EXIT_CODES_HELP,
)
@config_option
@click.option(
    "--run-as",
    metavar="UID:GID",
    help="Started as root: make the data directories named in COMMAND this user's, then run "
    "as it (MinIO and bootstrap alike). Not root: nothing is prepared.",
)
@click.option(
    "--endpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the endpoint MinIO listens on here, for `python -m bootstrap.health`.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def entrypoint(
    config_file: str | None,
    run_as: str | None,
    endpoint_file: Path | None,
    command: tuple[str, ...],
) -> None:
    """Start MinIO, bootstrap it, and stay its parent.

    Usage: minio-stack entrypoint -- minio server /data --console-address :9001

    Validates every setting first, starts COMMAND as a child, converges it (as `bootstrap`
    does) on the --address the child listens on, then forwards SIGTERM/SIGINT and exits with
    MinIO's code. If bootstrap fails, MinIO is stopped and the exit code is non-zero.
    MINIO_KMS_SECRET_KEY (MinIO's name:base64 form, or any secret of 32+ characters) reaches
    MinIO as its KMS key.
    """
    from bootstrap import entrypoint as entrypoint_mod
    from bootstrap import settings as settings_mod

    try:
        user = entrypoint_mod.parse_run_as(run_as) if run_as is not None else None
        endpoint = entrypoint_mod.endpoint_for(entrypoint_mod.address_of(command))
        settings = settings_mod.load(
            os.environ, config_file=config_file, default_endpoint=endpoint, starts_minio=True
        )
        code = entrypoint_mod.run(
            settings, command, os.environ, run_as=user, endpoint_file=endpoint_file
        )
    except StackError as exc:
        fail(exc)
    sys.exit(code)


# The root group (minio_stack/cli.py) and `python -m bootstrap` add every command listed here.
COMMANDS: list[click.Command] = [wait, bootstrap, entrypoint]

main = package_group(
    "bootstrap",
    "Wait for MinIO, converge it to its declared state, or run as its container entrypoint.",
    COMMANDS,
)
