"""``python -m minio_stack``: the same as the ``minio-stack`` command."""

from minio_stack.cli import main

if __name__ == "__main__":
    main(prog_name="minio-stack")
