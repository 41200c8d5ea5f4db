"""Converge a MinIO deployment to its declared state, and run it as a container entrypoint."""
