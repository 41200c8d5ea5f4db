"""The ``minio-stack`` command: a root group that only adds the packages' commands."""

from __future__ import annotations

import click

from bootstrap import cli as bootstrap_cli
from bootstrap import deploy_cli, rotation_cli
from signer import cli as signer_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="minio-stack")
def main() -> None:
    """minio-stack: a private MinIO with a presigning sidecar, converged and verified."""


for _command in (
    *bootstrap_cli.COMMANDS,
    *signer_cli.COMMANDS,
    *deploy_cli.COMMANDS,
    *rotation_cli.COMMANDS,
):
    main.add_command(_command)
