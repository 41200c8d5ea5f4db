"""``python -m stack``: this package's commands alone, the same as under ``minio-stack``."""

from stack.cli import main

if __name__ == "__main__":
    main(prog_name="python -m stack")
