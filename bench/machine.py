"""What the numbers were measured on: the machine, and the versions of every moving part."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
MINIO_BINARY = ROOT / ".cache" / "bin" / "minio"
_PACKAGES = (
    "minio-stack",
    "minio",
    "starlette",
    "granian",
    "uvloop",
    "pydantic",
    "pyjwt",
    "cryptography",
    "requests",
    "urllib3",
    "psutil",
    "pyinstrument",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def machine_info() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gib": round(memory.total / 2**30, 1),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    found["minio_server"] = (
        _first_line([str(MINIO_BINARY), "--version"]) if MINIO_BINARY.exists() else None
    )
    wrk = shutil.which("wrk")
    found["wrk"] = _first_line([wrk, "--version"]) if wrk else None
    node = shutil.which("node")
    found["node"] = _first_line([node, "--version"]) if node else None
    from bench.peer import PACKAGE, version

    found[PACKAGE] = version()  # the peer (bench/peer/package-lock.json pins it)
    return found
