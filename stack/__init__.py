"""The local stack behind ``make up`` / ``make down``: the ``.env`` file, a native run of the three
services under honcho, or Docker Compose when an engine is there."""
