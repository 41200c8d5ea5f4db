"""``python -m bootstrap``: bootstrap's own commands (wait, bootstrap, entrypoint) as one group.

The same commands as ``minio-stack wait|bootstrap|entrypoint``, for an image or a host that
ships this package without the root ``minio-stack`` command.
"""

from __future__ import annotations

import click

from bootstrap.cli import COMMANDS
from common.cli import CONTEXT


@click.group(name="bootstrap", context_settings=CONTEXT)
@click.version_option(package_name="minio-stack")
def main() -> None:
    """Wait for MinIO, converge it to its declared state, or run as its container entrypoint."""


for _command in COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main(prog_name="python -m bootstrap")
