"""What the benchmarks share for their reports: machine facts, formatting, result tables."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.processes import KIB_PER_MIB

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str]  # (measure, value, target)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def mib(kib: int, decimals: int = 1) -> str:
    return f"{kib / KIB_PER_MIB:.{decimals}f} MiB"


def verdict(ok: bool) -> str:
    return "(met)" if ok else "(MISSED)"


def cell(text: str) -> str:
    """Text for a Markdown table cell."""
    return text.replace("|", "\\|")


def print_table(rows: Sequence[Row]) -> None:
    table = [("measure", "value", "target"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    print()
    for measure, value, target in table:
        print(f"{measure:<{widths[0]}}  {value:<{widths[1]}}  {target}".rstrip())
    print()


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(value) for value in row) + " |" for row in rows),
    ]


def anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading (without the suffix of a repeated one)."""
    text = heading.lstrip("#").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return "#" + text.replace(" ", "-")


def git_commit(root: Path = ROOT) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def wrk_version() -> str:
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "wrk (not installed)"
    return " ".join((wrk.stdout or wrk.stderr).split()[:2])


def machine_info(admin_engine: Any, redis_client: Any, commit: str | None = None) -> dict[str, str]:
    """CPUs, memory, Python, PostgreSQL (and Redis when given) versions, the code's commit."""
    from sqlalchemy import text

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with admin_engine.connect() as connection:
        postgresql = str(connection.execute(text("SHOW server_version")).scalar_one())
    redis = "not used"
    if redis_client is not None:
        redis = str(redis_client.info("server").get("redis_version", "unknown"))
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "postgresql": postgresql,
        "redis": redis,
        "commit": commit if commit is not None else git_commit(),
    }


def web_stack() -> dict[str, str]:
    """The load generator and the web stack's versions, for the wrk benchmarks."""
    from importlib.metadata import version

    return {"wrk": wrk_version(), "gunicorn": version("gunicorn"), "flask": version("flask")}
