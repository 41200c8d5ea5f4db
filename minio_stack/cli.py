"""The ``minio-stack`` command: a root group that only adds each package's commands."""

from __future__ import annotations

import click

from bootstrap import cli as bootstrap_cli
from common.cli import CONTEXT
from rotation import cli as rotation_cli
from signer import cli as signer_cli
from stack import cli as stack_cli


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="minio-stack")
def main() -> None:
    """minio-stack: a private MinIO with a presigning sidecar, converged and verified."""


for _command in (
    *bootstrap_cli.COMMANDS,
    *signer_cli.COMMANDS,
    *stack_cli.COMMANDS,
    *rotation_cli.COMMANDS,
):
    main.add_command(_command)
