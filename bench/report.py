"""What the benchmarks share for their reports: machine facts, formatting, result tables."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

from bench.processes import KIB_PER_MIB

ROOT = Path(__file__).resolve().parent.parent
# RESULTS.md holds the newest python -m bench run (its summary, then its sections) at the
# top; each earlier run moves to HISTORY.md. A benchmark run alone appends its section to
# HISTORY.md. BENCH_RESULTS_FILE says where a benchmark appends its section instead:
# python -m bench collects the run's sections in a file of its own, and python -m
# bench.pipeline --ref has the copy it exports append to this checkout's file.
SUMMARY_FILE = ROOT / "bench" / "RESULTS.md"
HISTORY_FILE = ROOT / "bench" / "HISTORY.md"
RESULTS_FILE = Path(os.environ.get("BENCH_RESULTS_FILE") or HISTORY_FILE)
Row = tuple[str, str, str]  # (measure, value, target)
R = TypeVar("R")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Summary:
    """One line of the summary table that ``python -m bench`` writes."""

    benchmark: str
    measure: str
    value: str
    baseline: str  # the ceiling or baseline measured in the same run
    ratio: str
    target: str
    met: bool | None  # None: no target

    @property
    def verdict(self) -> str:
        return "" if self.met is None else "met" if self.met else "MISSED"


def write_json(path: Path, section: str, summary: Sequence[Summary]) -> None:
    """What ``python -m bench`` reads back: the heading of the section appended to
    RESULTS.md (empty when nothing was written) and the summary rows."""
    path.write_text(json.dumps({"section": section, "summary": [asdict(s) for s in summary]}))


def read_json(path: Path) -> tuple[str, list[Summary]]:
    data = json.loads(path.read_text())
    return data["section"], [Summary(**row) for row in data["summary"]]


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


def append_section(
    heading: str,
    facts: Sequence[str],
    rows: Sequence[Row],
    *,
    header: Sequence[str] = ("measure", "value", "target"),
    results_file: Path = RESULTS_FILE,
) -> str:
    """Append a benchmark's detailed section to RESULTS_FILE: ``## heading``, the facts as a
    list, the table. Return the heading line, which ``python -m bench`` links to."""
    line = f"## {heading}"
    listed = [f"- {fact}" for fact in facts]
    text = "\n".join(["", line, "", *listed, "", *markdown_table(header, rows), ""])
    with results_file.open("a") as out:
        out.write(text)
    return line


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


def work_folder(cleanup: contextlib.ExitStack, prefix: str, *, keep: bool) -> Path:
    """A temporary folder for logs and the instance: removed at the end, unless kept."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if keep:
        cleanup.callback(print, f"logs kept in {folder}", file=sys.stderr)
    else:
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
    return folder


def flushed_redis(cleanup: contextlib.ExitStack, url: str) -> Any:
    """A client of the Redis database at ``url``, which the benchmark owns: flushed now and
    on the way out."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    cleanup.callback(client.close)
    cleanup.callback(client.flushdb)
    return client


@contextlib.contextmanager
def scratch_database(postgres_url: str, prefix: str) -> Iterator[tuple[Any, str, str]]:
    """A fresh database on the server: (admin engine, its name, its URL); dropped, with
    whatever is still connected to it, on the way out."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        yield admin, name, url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_postgres_url(parser: argparse.ArgumentParser, databases: str) -> None:
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help=f"a PostgreSQL server where {databases} databases may be created and dropped",
    )


def exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def run_and_report(
    prog: str,
    options: Any,
    run: Callable[[Any], R],
    *,
    rows: Callable[[R], Sequence[Row]],
    write: Callable[[R], str],
    summary: Callable[[R], Sequence[Summary]],
) -> int:
    """A wrk benchmark's main: run it, print its table, append its section (RESULTS_FILE) unless
    ``options.write`` is false, and write its summary to ``options.json`` when given."""
    from bench import wrk

    problem = wrk.missing()
    if problem:
        print(f"{prog}: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, exit_on_signal)
    try:
        results = run(options)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print_table(rows(results))
    section = ""
    if options.write:
        section = write(results)
        print(f"appended to {RESULTS_FILE}")
    if options.json:
        write_json(options.json, section, summary(results))
    return 0
