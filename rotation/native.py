"""Restart the native (`make up`) stack so every process runs with what .env says now.

honcho stops every process when one of them exits, so MinIO alone cannot be restarted under
it. The stack is restarted the way `minio-stack up` starts it, with the same stack.native
moves (prepare → launch → wait_healthy), so a rotation exercises exactly the code `make up`
runs. The new plan is prepared (and every program's configuration checked) *before* the
running stack is stopped: a configuration that would not start never takes the stack down.
The signer and console restart too; they come back with the same .env, and the signer
re-reads its keys from it (which is how rotate-signer-key switches it).
"""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import StackError
from stack import envfile, native, supervisor
from stack.settings import StackSettings


def restart(stack: StackSettings, environ: Mapping[str, str], timeout: float) -> None:
    """Stop the stack and start it again from .env; returns once every service is healthy."""
    planned = native.prepare(stack, envfile.read(stack.env_file), environ)
    supervisor.stop(stack)
    pid = native.launch(planned)
    try:
        supervisor.wait_healthy(planned, pid, timeout)
    except StackError as exc:
        supervisor.stop(stack)  # nothing half-started stays behind; the rollback starts it again
        raise StackError(
            f"the restarted stack did not become healthy: {exc.message}",
            hint=f"{planned.paths.log} says why",
        ) from None
