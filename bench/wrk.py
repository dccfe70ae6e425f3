"""wrk, the load generator of bench.api and bench.pages: run it, read its result line."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULT_PREFIX = "BENCH-RESULT "
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50: float
    p90: float
    p99: float
    max: float
    errors: dict[str, int] = field(default_factory=dict)
    cpu: float = 0.0  # CPU seconds of the web's process tree during the run
    p95: float = 0.0  # when the script prints it

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def missing() -> str | None:
    if shutil.which("wrk") is None:
        return (
            "wrk is not installed, and this benchmark needs it as its load generator "
            "(Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)."
        )
    return None


def parse(output: str) -> WrkResult:
    """The result line a bench/*.lua script's done() prints (times in microseconds)."""
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line.removeprefix(RESULT_PREFIX))
            break
    else:
        raise RuntimeError(f"no result line from wrk:\n{output}")
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50=data["p50_us"] / 1e6,
        p90=data["p90_us"] / 1e6,
        p95=data.get("p95_us", 0) / 1e6,
        p99=data["p99_us"] / 1e6,
        max=data["max_us"] / 1e6,
        errors={kind: data[kind] for kind in ERROR_KINDS if data[kind]},
    )


def run(command: Sequence[str], log: Path) -> WrkResult:
    """Run a wrk command line, log its output, and read its result line."""
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse(done.stdout)
