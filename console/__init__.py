"""The console proxy: nginx in front of the MinIO Console, configured from a jinja2 template."""
