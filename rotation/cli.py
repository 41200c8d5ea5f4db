"""Commands that rotate credentials: rotate-root and rotate-signer-key (rotation/)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from common.cli import CONTEXT, fail, json_option, package_group, plan_option
from common.envconfig import parse_duration
from common.errors import EXIT_CODES_HELP, ConfigError, StackError
from rotation import passwords, targets
from rotation import settings as rotation_settings
from rotation.files import RotationLock
from rotation.state import Journal, journal_paths
from stack import envfile

if TYPE_CHECKING:
    from rotation.report import FaultHook, Outcome

# `--plan` is the kit's one name for "check and show, change nothing" (bootstrap has it too);
# `--dry-run`, the rotation commands' first name for it, stays accepted, hidden from --help.
dry_run_alias = click.option("--dry-run", "dry_run", is_flag=True, hidden=True)
show_secrets_option = click.option(
    "--show-secrets",
    is_flag=True,
    help="Also print the new credentials (otherwise they are only written where they live).",
)

ROOT_EPILOG = (
    "native: .env, then the `make up` stack restarts. compose: .env (atomic, 0600, timestamped "
    "backup), then `docker compose up --detach minio`. render: RENDER_API_KEY, RENDER_SERVICE_ID, "
    "MINIO_ENDPOINT, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD (the current ones) from the "
    "environment; the service's env var is updated and a deploy is polled until live. "
    "ROTATION_TIMEOUT [5m] bounds each restart. A journal (.env.rotate-root.json, 0600) lets a "
    "re-run after a crash roll the unfinished rotation back first. " + EXIT_CODES_HELP
)
SIGNER_EPILOG = (
    "The new key is a new IAM user (<name>-g<N>) with the signer's policies; .env gets it and "
    "the stack restarts; the old key keeps working until it is revoked. State: "
    ".env.signer-key.json (0600). " + EXIT_CODES_HELP
)


@dataclass(frozen=True)
class FaultInjection:
    """A test entry point's fault hook, handed to the commands as click's context object.

    Only harness/faulty_cli.py builds one. `minio-stack` runs its commands without a context
    object, so nothing a user sets (no variable, no option) can make a real rotation fail on
    purpose.
    """

    hook: FaultHook


def _injected_fault() -> FaultHook | None:
    injection = click.get_current_context().find_object(FaultInjection)
    return injection.hook if injection is not None else None


def _emit(outcome: Outcome, as_json: bool, show_secrets: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.to_json(show_secrets)))
        for warning in outcome.warnings:
            click.echo(f"warning: {warning}", err=True)
    else:
        click.echo(outcome.text(show_secrets))
    if not outcome.ok:
        click.echo(f"Error: {outcome.error_line()}", err=True)
    sys.exit(int(outcome.exit_code))


@click.command("rotate-root", context_settings=CONTEXT, epilog=ROOT_EPILOG)
@click.option(
    "--target",
    type=click.Choice(targets.TARGETS),
    required=True,
    help="Where MinIO runs: the native `make up` stack, Docker Compose, or Render.",
)
@click.option(
    "--new-user",
    metavar="NAME",
    help="Also rename the root user. Orphans service accounts root owns (minio/minio#17565) "
    "and invalidates anything signed with root's keys.",
)
@plan_option
@dry_run_alias
@show_secrets_option
@json_option
def rotate_root(
    target: str,
    new_user: str | None,
    plan: bool,
    dry_run: bool,
    show_secrets: bool,
    as_json: bool,
) -> None:
    """Give MinIO's root user a new password, verify it, or roll back.

    Checks the current root credentials and takes an inventory of every bucket (objects,
    policy, lifecycle, versioning, api config); writes a new generated password; restarts
    MinIO; checks that the new credentials work, the old are refused, the signer's own
    identity still works and nothing was lost. On any failure the old credentials are put
    back and verified, and the error names the step that failed.
    """
    # Imported here: the rotation machinery pulls in minio-py and the signer, which other
    # commands (and `--help`) should not pay for.
    from rotation import root

    try:
        if new_user is not None:
            try:
                passwords.check_user_name(new_user)
            except ValueError as exc:
                raise ConfigError([("--new-user", str(exc))]) from None
        settings = rotation_settings.load(os.environ, target=target)
        journal_path, _, lock_path = journal_paths(settings.env_file)
        chosen = targets.make(target, settings)
        with RotationLock(lock_path):
            outcome = root.rotate(
                chosen,
                Journal(journal_path, root.COMMAND),
                new_user=new_user,
                dry_run=plan or dry_run,
                fault=_injected_fault(),
            )
    except StackError as exc:
        fail(exc, as_json)
    _emit(outcome, as_json, show_secrets)


def _overlap(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError([("--overlap", str(exc))]) from None
    return seconds


@click.command("rotate-signer-key", context_settings=CONTEXT, epilog=SIGNER_EPILOG)
@click.option(
    "--target",
    type=click.Choice(("native", "compose")),
    default="native",
    show_default=True,
    help="Where the stack runs (on Render, rotate the signer's keys in the Dashboard).",
)
@click.option(
    "--overlap",
    metavar="DURATION",
    help="How long the old key stays valid (15m, 24h, 7d; 0 revokes at once). Default: the "
    "longest download-URL lifetime the signer's policy allows.",
)
@click.option("--finish", is_flag=True, help="End the overlap now: revoke the old key.")
@plan_option
@dry_run_alias
@show_secrets_option
@json_option
def rotate_signer_key(
    target: str,
    overlap: str | None,
    finish: bool,
    plan: bool,
    dry_run: bool,
    show_secrets: bool,
    as_json: bool,
) -> None:
    """Give the signer a new key, keep the old one valid for an overlap, then revoke it.

    URLs signed before the switch keep working until the overlap ends. Run it again after
    the overlap (or with --finish) to revoke the old key; it then checks that a URL signed
    with the old key is refused and one signed with the new key works.
    """
    from rotation import signer_key

    try:
        seconds = _overlap(overlap)
        if finish and seconds is not None:
            raise ConfigError([("--overlap", "is not used with --finish; give one of them")])
        settings = rotation_settings.load(os.environ, target=target)
        _, state_path, lock_path = journal_paths(settings.env_file)
        why = "--overlap"
        if seconds is None and not finish:
            config = envfile.read(settings.env_file) if settings.env_file.exists() else {}
            seconds, why = signer_key.default_overlap(config)
        chosen = targets.make(target, settings)
        with RotationLock(lock_path):
            rotation = signer_key.Rotation(
                chosen, Journal(state_path, signer_key.COMMAND), fault=_injected_fault()
            )
            outcome = rotation.run(
                overlap=seconds or 0.0, overlap_source=why, finish=finish, dry_run=plan or dry_run
            )
    except StackError as exc:
        fail(exc, as_json)
    _emit(outcome, as_json, show_secrets)


# The root group (minio_stack/cli.py) adds every command listed here.
COMMANDS: list[click.Command] = [rotate_root, rotate_signer_key]


main = package_group(
    "rotation", "The credential rotation commands alone: rotate-root, rotate-signer-key.", COMMANDS
)
