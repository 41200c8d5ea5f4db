"""``python -m bootstrap``: this package's commands alone, the same as under ``minio-stack``."""

from bootstrap.cli import main

if __name__ == "__main__":
    main(prog_name="python -m bootstrap")
