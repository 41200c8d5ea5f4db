"""The native stack's background process: honcho's manager running a plan's processes.

supervisor.py starts it as ``python -m stack.manager`` in its own session and writes the
processes to its stdin as JSON, so no secret lands in a file or an argument list. honcho
stops every process when one exits and on SIGTERM; each child's pid is also recorded (one
``name pid`` line each), so `minio-stack down` can clean up even after this process was killed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stack.plan import StackPlan

MODULE = "stack.manager"
_STARTED = re.compile(r"^(?P<name>\S+) started \(pid=(?P<pid>\d+)\)")


def handover(plan: StackPlan) -> dict[str, Any]:
    """What the manager reads on its stdin: the processes, and where to record their pids."""
    return {
        "pids": str(plan.paths.pids),
        "processes": [
            {"name": p.name, "command": p.command, "env": dict(p.env)} for p in plan.processes
        ],
    }


def run(document: Mapping[str, Any]) -> int:
    """Run the processes under honcho until one exits or SIGTERM arrives; honcho's exit code."""
    # Imported here: only this background process needs honcho.
    from honcho.manager import Manager
    from honcho.printer import Printer

    pids_path = Path(document["pids"])

    class RecordingPrinter(Printer):  # type: ignore[misc]  # honcho ships no type information
        """honcho's printer, also recording each child's pid for `down`."""

        def write(self, message: Any) -> None:
            super().write(message)
            data = message.data.decode() if isinstance(message.data, bytes) else message.data
            match = _STARTED.match(data) if message.name == "system" else None
            if match:
                with pids_path.open("a") as out:
                    out.write(f"{match['name']} {match['pid']}\n")

    manager = Manager(RecordingPrinter(sys.stdout, colour=False))
    for proc in document["processes"]:
        manager.add_process(proc["name"], proc["command"], env=proc["env"])
    manager.loop()
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(run(json.load(sys.stdin)))
