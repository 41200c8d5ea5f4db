"""The native stack the way `minio-stack up` and a rotation's restart both run it.

``prepare`` finds the programs, plans the processes (plan.py) and has every program check the
environment it will get (preflight.py): nothing runs yet and nothing is written, so a bad .env
is refused before a running stack is touched. ``launch`` checks the plan's ports, then starts it
in the background (supervisor.py). Callers wait with ``supervisor.wait_healthy`` and stop with
``supervisor.stop``.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import ConfigError
from stack import preflight, supervisor
from stack.plan import StackPlan, plan_stack
from stack.settings import StackSettings


def prepare(
    stack: StackSettings, config: Mapping[str, str], environ: Mapping[str, str], nodes: int = 1
) -> StackPlan:
    """The plan for this machine, every program's configuration checked (ConfigError lists
    every problem); starts nothing."""
    planned = plan_stack(stack, config, environ, preflight.find_tools(stack), nodes)
    preflight.validate(planned.processes, stack)
    return planned


def launch(planned: StackPlan) -> int:
    """Start the plan in the background once its ports are free; returns the manager's pid."""
    busy = preflight.busy_ports(planned.ports)
    if busy:
        raise ConfigError(busy)
    return supervisor.start(planned)
