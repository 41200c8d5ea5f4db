"""``python -m rotation``: the rotation commands (rotate-root, rotate-signer-key) on their own."""

from rotation.cli import main

main(prog_name="python -m rotation")
