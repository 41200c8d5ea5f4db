"""Commands that act on the MinIO deployment: wait (and, as they land, bootstrap, entrypoint)."""

from __future__ import annotations

import json
import sys

import click

from bootstrap.errors import EXIT_CODES_HELP, ExitCode, StackError
from bootstrap.health import wait_ready

CONTEXT = {"help_option_names": ["-h", "--help"]}

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of text."
)


def fail(error: StackError, as_json: bool = False) -> None:
    """Report a domain error as one line (or one JSON object) and exit with its code."""
    if as_json:
        payload = {"ok": False, "error": error.message, "hint": error.hint}
        click.echo(json.dumps(payload))
    click.echo(f"Error: {error.one_line()}", err=True)
    sys.exit(int(error.exit_code))


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
    try:
        ready = wait_ready(endpoint, timeout)
    except StackError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, "endpoint": endpoint, "seconds": round(ready.seconds, 3)}))
    else:
        click.echo(f"{endpoint} is ready ({ready.seconds:.1f}s)")
    sys.exit(int(ExitCode.OK))


# The root group (bootstrap/main.py) adds every command listed here.
COMMANDS: list[click.Command] = [wait]
