"""The ``minio-stack`` command: a root group that only adds each package's commands."""

from __future__ import annotations

from bootstrap import cli as bootstrap_cli
from common.cli import package_group
from rotation import cli as rotation_cli
from signer import cli as signer_cli
from stack import cli as stack_cli

main = package_group(
    "minio-stack",
    "minio-stack: a private MinIO with a presigning sidecar, converged and verified.",
    [
        *bootstrap_cli.COMMANDS,
        *signer_cli.COMMANDS,
        *stack_cli.COMMANDS,
        *rotation_cli.COMMANDS,
    ],
)
