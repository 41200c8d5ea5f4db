"""``python -m minio_stack``: the same as the ``minio-stack`` command."""

from minio_stack.cli import main

main(prog_name="minio-stack")
