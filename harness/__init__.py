"""Real servers on loopback for the tests and the benchmarks: MinIO built from source, free
ports, process start/stop with their logs. Not shipped; ``tests`` and ``bench`` both import it."""
