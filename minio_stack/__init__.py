"""The root of the distribution: the ``minio-stack`` command, wiring the packages' commands."""
