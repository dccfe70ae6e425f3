"""Every benchmark in one go: ``python -m bench [--runs 3] [--quick] [--only NAME,…]``.

Runs ``bench.feeds``, ``bench.pages``, ``bench.api`` and ``bench.pipeline`` one after the
other, each as its own process with its ceiling or baseline measured in the same run (as
each does alone), each writing its detailed section and handing its summary rows back
through ``--json``. Then the run goes at the top of bench/RESULTS.md, between the markers:
one summary (date, machine, versions, commit, load average, and one table benchmark ·
measure · value · ceiling/baseline · ratio · target · verdict, linking to the details), then
the run's detailed sections; the run that was there moves to the top of bench/HISTORY.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench.report import (
    HISTORY_FILE,
    ROOT,
    SUMMARY_FILE,
    Summary,
    add_postgres_url,
    anchor,
    load_average,
    machine_info,
    markdown_table,
    read_json,
    wrk_version,
)

# The newest run sits between these in RESULTS.md; HISTORY.md keeps the earlier ones below
# its own copy of BEGIN, newest first.
BEGIN = "<!-- newest python -m bench run: begin -->"
END = "<!-- newest python -m bench run: end -->"
BENCHMARKS = ("feeds", "pages", "api", "pipeline")
PACKAGES = ("flask", "sqlalchemy", "flask-sqlalchemy", "celery", "gunicorn", "psycopg", "redis")


@dataclass(frozen=True)
class Options:
    runs: int
    quick: bool
    only: tuple[str, ...]
    write: bool
    postgres_url: str


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run every benchmark (feeds, pages, api, pipeline) and write one summary "
        "at the top of bench/RESULTS.md.",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each benchmark; medians")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="to try it out: 1 run each and smaller sizes (their own --quick, fewer feed "
        "events, fewer pipeline requests)",
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated, of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--no-write", action="store_true", help="write nothing to RESULTS.md")
    add_postgres_url(parser, "the benchmarks' (bureau_*bench*)")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = set(only) - set(BENCHMARKS)
    if unknown or not only:
        parser.error(f"--only takes some of {', '.join(BENCHMARKS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return Options(
        runs=1 if args.quick else args.runs,
        quick=args.quick,
        only=only,
        write=not args.no_write,
        postgres_url=args.postgres_url,
    )


def command(name: str, options: Options, json_path: Path) -> list[str]:
    """The command line of one benchmark."""
    args: list[str] = []
    if name == "feeds":
        args = ["--events", "2000"] if options.quick else []
        args += ["--runs", str(options.runs)]
    elif name == "pages":
        args = ["--quick"] if options.quick else ["--runs", str(options.runs)]
    elif name == "api":
        args = ["--quick"] if options.quick else []
        args += ["--runs", str(options.runs)]
    elif name == "pipeline":
        args = ["--quick"] if options.quick else ["--runs", str(options.runs)]
    if name != "feeds":
        args += ["--postgres-url", options.postgres_url]
    if not options.write:
        args.append("--no-write")
    return [sys.executable, "-m", f"bench.{name}", *args, "--json", str(json_path)]


def versions(postgres_url: str) -> dict[str, str]:
    import redis
    from sqlalchemy import create_engine

    engine = create_engine(postgres_url)
    client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_INFO_URL", "redis://127.0.0.1:6379"))
    try:
        found = machine_info(engine, client)  # reads versions only; flushes nothing
    finally:
        client.close()
        engine.dispose()
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    found["wrk"] = wrk_version()
    return found


@dataclass
class Outcome:
    name: str
    returncode: int
    seconds: float
    section: str = ""
    summary: Sequence[Summary] = ()


def summary_section(
    started: datetime,
    invocation: str,
    facts: dict[str, str],
    outcomes: Sequence[Outcome],
    load: tuple[str, str],
) -> str:
    """The Markdown of one summary (a heading, the facts, the table, the links)."""
    rows = []
    for outcome in outcomes:
        if outcome.returncode != 0:
            rows.append((outcome.name, "(the benchmark failed: see its output)", "", "", "", "",
                         f"FAILED (exit {outcome.returncode})"))  # fmt: skip
        for s in outcome.summary:
            rows.append((s.benchmark, s.measure, s.value, s.baseline, s.ratio, s.target,
                         s.verdict))  # fmt: skip
    links = " · ".join(
        f"[bench.{o.name}]({anchor(o.section)})" if o.section else f"bench.{o.name} (not written)"
        for o in outcomes
    )
    packages = ", ".join(f"{name} {facts[name]}" for name in PACKAGES)
    took = ", ".join(f"{o.name} {o.seconds / 60:.1f} min" for o in outcomes)
    lines = [
        f"## Summary {started:%Y-%m-%d %H:%M} UTC (`{invocation}`)",
        "",
        f"- machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory']} RAM; Python "
        f"{facts['python']}; PostgreSQL {facts['postgresql']}; Redis {facts['redis']}; "
        f"{facts['wrk']}",
        f"- packages: {packages}",
        f"- code: {facts['commit']}; load average before {load[0]}, after {load[1]}; took {took}",
        "",
        *markdown_table(
            ("benchmark", "measure", "value", "ceiling / baseline", "ratio", "target", "verdict"),
            rows,
        ),
        "",
        f"Details: {links}",
        "",
    ]
    return "\n".join(lines)


def place_run(results: str, history: str, run: str) -> tuple[str, str]:
    """RESULTS.md and HISTORY.md with ``run`` as the newest: it replaces what stands between
    BEGIN and END in RESULTS.md (both added at the end when missing), which moves to the
    top of HISTORY.md's runs (below its BEGIN)."""
    if BEGIN in results and END in results:
        head, rest = results.split(BEGIN, 1)
        earlier, tail = rest.split(END, 1)
    else:
        head, earlier, tail = results.rstrip() + "\n\n", "", "\n"
    results = f"{head}{BEGIN}\n\n{run.strip()}\n\n{END}{tail}"
    if earlier.strip():
        if BEGIN not in history:
            history = f"{history.rstrip()}\n\n{BEGIN}\n"
        top, runs = history.split(BEGIN, 1)
        history = f"{top}{BEGIN}\n\n{earlier.strip()}\n\n{runs.lstrip()}"
    return results, history


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = datetime.now(UTC)
    facts = versions(options.postgres_url)
    load_before = load_average()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bureau-bench-all-") as folder:
        # Each benchmark appends its detailed section here; they follow the summary.
        sections = Path(folder) / "sections.md"
        sections.touch()
        env = os.environ | {"BENCH_RESULTS_FILE": str(sections)}
        for name in options.only:
            json_path = Path(folder) / f"{name}.json"
            line = command(name, options, json_path)
            print(f"\n=== bench.{name}: {' '.join(line[1:])}", flush=True)
            began = time.monotonic()
            try:
                returncode = subprocess.call(line, cwd=ROOT, env=env)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return 130
            outcome = Outcome(name, returncode, time.monotonic() - began)
            if returncode == 0 and json_path.exists():
                outcome.section, outcome.summary = read_json(json_path)
            outcomes.append(outcome)
        details = sections.read_text()
    invocation = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    section = summary_section(started, invocation, facts, outcomes, (load_before, load_average()))
    print("\n" + section)
    if options.write:
        history = HISTORY_FILE.read_text() if HISTORY_FILE.exists() else ""
        results, history = place_run(SUMMARY_FILE.read_text(), history, f"{section}\n{details}")
        HISTORY_FILE.write_text(history)
        SUMMARY_FILE.write_text(results)
        print(f"run written at the top of {SUMMARY_FILE}; the one before moved to {HISTORY_FILE}")
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
