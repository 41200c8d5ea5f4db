"""The native stack the way `minio-stack up` and a rotation's restart both run it.

``prepare`` finds the programs, plans the processes (plan.py) and has every program check the
environment it will get (preflight.py): nothing runs yet and nothing is written, so a bad .env
is refused before a running stack is touched. Every problem is listed at once, so one fix-and-
retry suffices: `up` hands it the STACK_* problems too, and asks it to check the ports.
``launch`` checks the plan's ports (again: a moment has passed), then starts it in the
background (supervisor.py). Callers wait with ``supervisor.wait_healthy`` and stop with
``supervisor.stop``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from common.errors import ConfigError
from stack import preflight, supervisor
from stack.plan import StackPlan, plan_stack
from stack.settings import StackSettings


def prepare(
    stack: StackSettings,
    config: Mapping[str, str],
    environ: Mapping[str, str],
    nodes: int = 1,
    *,
    settings_problems: Sequence[tuple[str, str]] = (),
    check_ports: bool = False,
) -> StackPlan:
    """The plan for this machine, every program's configuration checked; starts nothing.

    One ConfigError lists every problem: ``settings_problems`` (the STACK_* ones, found before),
    the plan's, each program's own settings and, with ``check_ports``, every planned port
    something already listens on. A rotation's restart leaves ``check_ports`` off: its own
    stack still holds the ports while the new configuration is checked.
    """
    problems = list(settings_problems)
    tools = preflight.find_tools(stack)
    try:
        planned = plan_stack(stack, config, environ, tools, nodes)
    except ConfigError as exc:
        # The nodes' ports do not fit: the programs' settings are still worth checking.
        problems += exc.problems
        planned = plan_stack(stack, config, environ, tools)
    try:
        preflight.validate(planned.processes, stack)
    except ConfigError as exc:
        problems += exc.problems
    if check_ports:
        # A port already named as bad (unparsable, or clashing) is not checked again.
        named = {name.split("+", 1)[0] for name, _ in problems}
        wanted = {n: p for n, p in planned.ports.wanted.items() if n.split("+", 1)[0] not in named}
        problems += preflight.busy_ports(replace(planned.ports, wanted=wanted))
    if problems:
        raise ConfigError(problems)
    return planned


def launch(planned: StackPlan) -> int:
    """Start the plan in the background once its ports are free; returns the manager's pid."""
    busy = preflight.busy_ports(planned.ports)
    if busy:
        raise ConfigError(busy)
    return supervisor.start(planned)
