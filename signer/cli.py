"""The signer's commands: signer serve, presign, upload, download."""

from __future__ import annotations

import click

# The root group (bootstrap/main.py) adds every command listed here.
COMMANDS: list[click.Command] = []
