"""``python -m stack``: the local stack's commands (up, down, env-init) on their own."""

from stack.cli import main

main(prog_name="python -m stack")
