"""click conventions every minio-stack command shares: help flags, --json, --plan, one-line errors.

Declared once here and stacked on each command (sqlite-utils' way), so `--json` and `--plan`
mean the same thing everywhere and a domain error always ends as one line and its exit code.
"""

from __future__ import annotations

import json
import sys

import click

from common.errors import StackError

CONTEXT = {"help_option_names": ["-h", "--help"]}

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of text."
)

plan_option = click.option(
    "--plan", is_flag=True, help="Read and compare only: show what would change, write nothing."
)


def fail(error: StackError, as_json: bool = False) -> None:
    """Report a domain error as one line (or one JSON object) and exit with its code."""
    if as_json:
        payload = {"ok": False, "error": error.message, "hint": error.hint}
        click.echo(json.dumps(payload))
    click.echo(f"Error: {error.one_line()}", err=True)
    sys.exit(int(error.exit_code))


def package_group(name: str, help_text: str, commands: list[click.Command]) -> click.Group:
    """A click group of one package's commands: ``python -m <package>``, and (with every
    package's commands) the root ``minio-stack`` group, all with the same help and version."""
    group = click.Group(name=name, commands=commands, context_settings=CONTEXT, help=help_text)
    return click.version_option(package_name="minio-stack")(group)
