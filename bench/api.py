"""API submit benchmark: ``python -m bench.api`` (from the repository root).

It starts gunicorn twice with Bureau's config file and the same options
(``gunicorn -c python:bureau.gunicorn_conf … --workers 4``): once serving Bureau on a fresh
PostgreSQL database (created, migrated, seeded and dropped by the benchmark) with Redis
database 11 as broker and rate-limit store (flushed at start and end; no other database is
touched), once serving ``bench/bare_app.py``, a Flask endpoint returning a constant. wrk
(``bench/submit.lua``: valid JSON bodies with unique data) drives each at 32 connections for
``--duration`` seconds, in turn, ``--runs`` times; the medians of the runs are reported:
requests/s, p50/p99 latency, the API's share of the bare endpoint's rate (context). Each run
also drives the naive service (``bench/naive``, its own database, Redis database 10 as broker,
the same gunicorn settings): the API's requests/s and p99 over the naive service's are the
targets, with web and PostgreSQL CPU and the counted SQL statements, commits and Redis round
trips per request (``bench/counting.py``). Then more API
load follows until ``--requests`` submissions (20,000) were answered in all, and the RSS of
each web worker is compared before the first and after the last. No Celery worker runs: each
submission's route job stays pending in the outbox, but its message is still sent to the
broker after the commit.

Results are printed and appended to bench/RESULTS.md (``--no-write``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import os
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import wrk
from bench.costs import CostMeter, Costs
from bench.mailsink import free_port
from bench.naive.demo import prepare_database as prepare_naive_database
from bench.processes import KIB_PER_MIB, Child, children_of, cpu_seconds, wait_for
from bench.report import (
    Summary,
    add_postgres_url,
    append_section,
    flushed_redis,
    load_average,
    machine_info,
    mib,
    ms,
    run_and_report,
    scratch_database,
    verdict,
    web_stack,
    work_folder,
)

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "submit.lua"
NEXT_YEAR = datetime.now(UTC).year + 1
P99_TARGET = 0.250  # seconds
NAIVE_RATE_TARGET = 0.9  # submit requests/s, Bureau over the naive service (bench/naive)
NAIVE_P99_TARGET = 1.2  # submit p99, Bureau over the naive service
WEB_WORKERS = 4
REDIS_DB = 11  # flushed: Bureau's broker and rate limits
NAIVE_REDIS_DB = 10  # flushed: the naive service's broker


@dataclass(frozen=True)
class Options:
    requests: int
    duration: int
    runs: int
    connections: int
    threads: int
    warm_up: int
    write: bool
    keep_logs: bool
    postgres_url: str
    redis_url: str
    naive_redis_url: str = ""
    json: Path | None = None


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description="API submit (gunicorn, 4 sync workers, PostgreSQL, Redis) against a bare "
        "Flask endpoint on the same gunicorn settings, driven by wrk.",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=20_000,
        help="API submissions answered in all (default 20,000): after the timed runs, more "
        "load until this many; web worker memory is compared before and after",
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run (20)")
    parser.add_argument(
        "--quick", action="store_true", help="2,000 submissions in all, 5-second runs"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs (API then bare); medians")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warm-up", type=int, default=3, help="unmeasured seconds, each app")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", type=Path, help="write the summary rows to this file")
    add_postgres_url(parser, "bureau_apibench_*")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_API_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_DB}"),
        help=f"broker and rate-limit store; this database (default {REDIS_DB}) is FLUSHED",
    )
    parser.add_argument(
        "--naive-redis-url",
        default=os.environ.get(
            "BENCH_API_NAIVE_REDIS_URL", f"redis://127.0.0.1:6379/{NAIVE_REDIS_DB}"
        ),
        help=f"the naive service's broker; this database (default {NAIVE_REDIS_DB}) is FLUSHED",
    )
    args = parser.parse_args(argv)
    requests = 2_000 if args.quick else args.requests
    duration = 5 if args.quick else args.duration
    if min(requests, duration, args.runs, args.connections, args.threads) < 1:
        parser.error("--requests, --duration, --runs, --connections, --threads must be positive")
    if args.connections % args.threads:
        parser.error("--connections must be a multiple of --threads")
    return Options(
        requests=requests,
        duration=duration,
        runs=args.runs,
        connections=args.connections,
        threads=args.threads,
        warm_up=args.warm_up,
        write=not args.no_write,
        keep_logs=args.keep_logs,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        naive_redis_url=args.naive_redis_url,
        json=args.json,
    )


# --- wrk


def run_wrk(port: int, seconds: int, options: Options, tag: str, log: Path) -> wrk.WrkResult:
    """POST unique bodies for ``seconds`` at ``options.connections`` connections."""
    command = [
        "wrk", f"-t{options.threads}", f"-c{options.connections}", f"-d{seconds}s",
        "--timeout", "30s", "-s", str(LUA_SCRIPT), f"http://127.0.0.1:{port}/api/v1/requests",
        "--", tag, str(NEXT_YEAR),
    ]  # fmt: skip
    return wrk.run(command, log)


# --- gunicorn


def gunicorn(name: str, app: str, port: int, env: dict[str, str], folder: Path) -> Child:
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:bureau.gunicorn_conf",
        "--workers", str(WEB_WORKERS), "--bind", f"127.0.0.1:{port}",
        # Workers are not replaced after max_requests during the benchmark: their memory
        # after 20,000 requests is the point, and recycling would hide a leak.
        "--max-requests", "0",
        "--access-logfile", str(folder / f"{name}-access.log"),
        app,
    ]  # fmt: skip
    return Child(name, command, env=env, cwd=ROOT, log=folder / f"{name}.log")


def serve(
    cleanup: contextlib.ExitStack, name: str, app: str, port: int, env: dict[str, str], folder: Path
) -> Child:
    """gunicorn started (and stopped with ``cleanup``), answering /healthz with all its
    workers up."""
    child = gunicorn(name, app, port, env, folder)
    child.start()
    cleanup.callback(child.stop)

    def answering() -> bool:
        child.check()  # raises if gunicorn has died
        return get(port, "/healthz") == 200

    wait_for(answering, 60, f"{name} to answer")
    wait_for(lambda: len(children_of(child.pid)) == WEB_WORKERS, 30, f"the {name} workers")
    return child


def worker_rss(master: int) -> dict[int, int]:
    """pid -> RSS in KiB of each gunicorn worker (the master's children)."""
    found = {}
    for pid in children_of(master):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[pid] = int(line.split()[1])
    return found


def tree_cpu(master: int) -> float:
    return cpu_seconds(master) + sum(cpu_seconds(pid) for pid in children_of(master))


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


# --- results


@dataclass
class Results:
    started: datetime
    options: Options
    machine: dict[str, str] = field(default_factory=dict)
    api: list[wrk.WrkResult] = field(default_factory=list)
    bare: list[wrk.WrkResult] = field(default_factory=list)
    naive: list[wrk.WrkResult] = field(default_factory=list)
    api_costs: list[Costs] = field(default_factory=list)  # per run: web CPU, PostgreSQL, counts
    naive_costs: list[Costs] = field(default_factory=list)
    rss_before: dict[int, int] = field(default_factory=dict)
    rss_after: dict[int, int] = field(default_factory=dict)
    warm_up_requests: int = 0
    api_answered: int = 0  # API requests answered between the two RSS readings
    soak_failed: int = 0
    bookings: int = 0
    pending_jobs: int = 0
    broker_messages: int = 0
    load_before: str = ""
    load_after: str = ""

    @property
    def ratios(self) -> list[float]:
        return [a.per_second / b.per_second for a, b in zip(self.api, self.bare, strict=True)]

    @property
    def naive_ratios(self) -> list[float]:
        """Requests/s, Bureau over the naive service, per run."""
        return [a.per_second / n.per_second for a, n in zip(self.api, self.naive, strict=True)]

    @property
    def naive_p99_ratios(self) -> list[float]:
        return [a.p99 / n.p99 for a, n in zip(self.api, self.naive, strict=True)]

    def median_costs(self) -> tuple[Costs, Costs]:
        """Bureau's and the naive service's costs in the run with the median rate ratio."""
        order = sorted(range(len(self.naive_ratios)), key=self.naive_ratios.__getitem__)
        index = order[len(order) // 2]
        return self.api_costs[index], self.naive_costs[index]

    def naive_rows(self) -> list[tuple[str, str, str]]:
        if not self.naive:
            return []
        med = statistics.median
        rate, p99 = med(self.naive_ratios), med(self.naive_p99_ratios)
        api_costs, naive_costs = self.median_costs()
        return [
            (
                "naive service requests/s (median)",
                f"{med(r.per_second for r in self.naive):.0f} "
                f"(p50 {ms(med(r.p50 for r in self.naive))}, "
                f"p99 {ms(med(r.p99 for r in self.naive))})",
                "",
            ),
            (
                "ratio requests/s API/naive (median of the runs' ratios)",
                f"{rate:.2f}x",
                f"≥ {NAIVE_RATE_TARGET:.1f}x {verdict(rate >= NAIVE_RATE_TARGET)}",
            ),
            (
                "ratio p99 API/naive (median of the runs' ratios)",
                f"{p99:.2f}x",
                f"≤ {NAIVE_P99_TARGET:.1f}x {verdict(p99 <= NAIVE_P99_TARGET)}",
            ),
            ("per request, API (median run)", api_costs.describe(("web",)), ""),
            ("per request, naive (median run)", naive_costs.describe(("web",)), ""),
        ]

    def rows(self) -> list[tuple[str, str, str]]:
        med = statistics.median
        api_rate, bare_rate = (
            med(r.per_second for r in self.api),
            med(r.per_second for r in self.bare),
        )
        ratio = med(self.ratios)
        api_p99 = med(r.p99 for r in self.api)
        naive: list[wrk.WrkResult | None] = [*self.naive] or [None] * len(self.api)
        each = "; ".join(
            f"{a.per_second:.0f}/s vs {b.per_second:.0f}/s bare = {a.per_second / b.per_second:.1%}"
            + (f", vs {n.per_second:.0f}/s naive" if n else "")
            for a, b, n in zip(self.api, self.bare, naive, strict=True)
        )
        o = self.options
        before = sum(self.rss_before.values())
        after = sum(self.rss_after.values())
        same = set(self.rss_before) == set(self.rss_after)
        return [
            (f"runs ({len(self.api)}: API, bare, naive)", each, ""),
            (
                "API submit requests/s (median)",
                f"{api_rate:.0f} (p50 {ms(med(r.p50 for r in self.api))}, "
                f"p99 {ms(api_p99)}, max {ms(med(r.max for r in self.api))})",
                f"p99 < {P99_TARGET * 1000:.0f} ms {verdict(api_p99 < P99_TARGET)}",
            ),
            (
                "bare Flask requests/s (median)",
                f"{bare_rate:.0f} (p50 {ms(med(r.p50 for r in self.bare))}, "
                f"p99 {ms(med(r.p99 for r in self.bare))})",
                "",
            ),
            ("ratio API/bare (median of the runs' ratios; context)", f"{ratio:.1%}", ""),
            *self.naive_rows(),
            (
                "web CPU per request (gunicorn tree)",
                f"API {ms(med(r.cpu / r.requests for r in self.api))}, "
                f"bare {ms(med(r.cpu / r.requests for r in self.bare))}",
                "",
            ),
            (
                f"web worker RSS before → after {self.api_answered:,} API requests",
                f"{mib(before)} → {mib(after)} ({(after - before) / KIB_PER_MIB:+.1f} MiB); "
                + ", ".join(
                    f"{mib(self.rss_before[pid])} → {mib(self.rss_after.get(pid, 0))}"
                    for pid in sorted(self.rss_before)
                )
                + ("" if same else " (a worker was replaced)"),
                "flat",
            ),
            (
                "check",
                f"{o.connections} connections, {o.threads} wrk threads; failed API requests "
                f"{sum(r.failed for r in self.api) + self.soak_failed}, bare "
                f"{sum(r.failed for r in self.bare)}; API answers "
                f"{self.warm_up_requests + self.api_answered:,} (warm-up included), bookings "
                f"stored {self.bookings:,}, jobs pending {self.pending_jobs:,}, "
                f"messages on the broker {self.broker_messages:,}",
                "",
            ),
        ]


def summary(results: Results) -> list[Summary]:
    med = statistics.median
    ratio = med(results.ratios)
    p99 = med(r.p99 for r in results.api)
    rows = []
    if results.naive:
        rate, p99_ratio = med(results.naive_ratios), med(results.naive_p99_ratios)
        api_costs, naive_costs = results.median_costs()

        def counted(c: Costs) -> str:
            return (
                f"{c.per_request('statements'):.1f} SQL in {c.per_request('commits'):.1f} "
                f"commits, {c.per_request('redis'):.1f} Redis"
            )

        rows += [
            Summary(
                "api",
                "API submit requests/s (gunicorn, 4 workers, 32 connections)",
                f"{med(r.per_second for r in results.api):.0f}/s",
                f"{med(r.per_second for r in results.naive):.0f}/s naive",
                f"{rate:.2f}x",
                f"≥ {NAIVE_RATE_TARGET:.1f}x",
                rate >= NAIVE_RATE_TARGET,
            ),
            Summary(
                "api",
                "API submit p99 vs naive",
                ms(p99),
                f"{ms(med(r.p99 for r in results.naive))} naive",
                f"{p99_ratio:.2f}x",
                f"≤ {NAIVE_P99_TARGET:.1f}x",
                p99_ratio <= NAIVE_P99_TARGET,
            ),
            Summary(
                "api",
                "submit: web, PostgreSQL CPU per request",
                f"{ms(api_costs.per_request('web'))}, {ms(api_costs.per_request('postgres'))}",
                f"{ms(naive_costs.per_request('web'))}, "
                f"{ms(naive_costs.per_request('postgres'))} naive",
                "",
                "",
                None,
            ),
            Summary(
                "api",
                "submit: SQL statements, commits, Redis round trips (counted)",
                counted(api_costs),
                f"{counted(naive_costs)} naive",
                "",
                "",
                None,
            ),
        ]
    return [
        *rows,
        Summary(
            "api",
            "API submit requests/s vs a constant (context)",
            f"{med(r.per_second for r in results.api):.0f}/s",
            f"{med(r.per_second for r in results.bare):.0f}/s bare Flask",
            f"{ratio:.1%}",
            "",
            None,
        ),
        Summary(
            "api",
            "API submit p99",
            ms(p99),
            f"{ms(med(r.p99 for r in results.bare))} bare Flask",
            "",
            f"< {P99_TARGET * 1000:.0f} ms",
            p99 < P99_TARGET,
        ),
    ]


def write_results(results: Results) -> str:
    """Append the results; return the section's heading."""
    m, o = results.machine, results.options
    return append_section(
        f"API submit benchmark {results.started:%Y-%m-%d %H:%M} UTC (`python -m bench.api`)",
        [
            f"machine: {m['nproc']} CPUs ({m['cpu']}); Python {m['python']}; "
            f"PostgreSQL {m['postgresql']}; Redis {m['redis']}; {m['wrk']}; "
            f"gunicorn {m['gunicorn']}, Flask {m['flask']}",
            f"code: {m['commit']}; {o.runs} runs of {o.duration} s each app, then API load up "
            f"to {o.requests:,} submissions; load average before "
            f"{results.load_before}, after {results.load_after}",
        ],
        results.rows(),
    )


# --- the benchmark


def run(options: Options) -> Results:
    from sqlalchemy import create_engine, text

    results = Results(started=datetime.now(UTC), options=options)
    with contextlib.ExitStack() as cleanup:
        folder = work_folder(cleanup, "bureau-apibench-", keep=options.keep_logs)

        broker = flushed_redis(cleanup, options.redis_url)

        admin, name, database_url = cleanup.enter_context(
            scratch_database(options.postgres_url, "bureau_apibench_")
        )
        results.machine = machine_info(admin, broker) | web_stack()
        print(f"database {name}, broker and rate limits {options.redis_url}, folder {folder}")

        api_port, bare_port = free_port(), free_port()
        settings = {
            "BUREAU_ENV": "development",
            "BUREAU_INSTANCE_PATH": str(folder / "instance"),
            "BUREAU_DATABASE_URL": database_url,
            "BUREAU_BROKER_URL": options.redis_url,
            "BUREAU_REDIS_URL": options.redis_url,
            "BUREAU_BASE_URL": f"http://127.0.0.1:{api_port}",
            "BUREAU_SUBMIT_RATE_LIMIT": "1000000 per minute",
        }
        prepare_database(settings)

        env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
        env |= settings | {"PYTHONUNBUFFERED": "1"}
        for service in ("api", "naive"):
            (folder / f"{service}-counts" / "web").mkdir(parents=True)
        api = serve(
            cleanup, "api", "bench.counting:bureau_app()", api_port,
            env | {"BENCH_COUNTS": str(folder / "api-counts" / "web")}, folder,
        )  # fmt: skip
        bare = serve(cleanup, "bare", "bench.bare_app:create_app()", bare_port, env, folder)

        # The naive service (bench/naive): its own database and broker, the same gunicorn.
        naive_broker = flushed_redis(cleanup, options.naive_redis_url)
        _, naive_name, naive_url = cleanup.enter_context(
            scratch_database(options.postgres_url, "bureau_apibench_naive_")
        )
        prepare_naive_database(naive_url)
        naive_port = free_port()
        naive_env = env | {
            "NAIVE_DATABASE_URL": naive_url,
            "NAIVE_BROKER_URL": options.naive_redis_url,
            "BENCH_COUNTS": str(folder / "naive-counts" / "web"),
        }
        naive = serve(cleanup, "naive", "bench.counting:naive_app()", naive_port, naive_env, folder)
        meters = {
            "api": CostMeter(admin, name, {"web": api.pid}, folder / "api-counts", broker),
            "naive": CostMeter(
                admin, naive_name, {"web": naive.pid}, folder / "naive-counts", naive_broker
            ),
        }
        print(f"naive service: database {naive_name}, broker {options.naive_redis_url}")

        wrk_log = folder / "wrk.log"
        results.load_before = load_average()
        if options.warm_up:
            print(f"warm-up: {options.warm_up} s each")
            results.warm_up_requests = run_wrk(
                api_port, options.warm_up, options, "warm", wrk_log
            ).requests
            run_wrk(bare_port, options.warm_up, options, "warm", wrk_log)
            run_wrk(naive_port, options.warm_up, options, "warm", wrk_log)
        results.rss_before = worker_rss(api.pid)
        for number in range(1, options.runs + 1):
            for child, port, into in (
                (api, api_port, results.api),
                (bare, bare_port, results.bare),
                (naive, naive_port, results.naive),
            ):
                cpu_before = tree_cpu(child.pid)
                meter = meters.get(child.name)
                costs_before = meter.snapshot() if meter else None
                measured = run_wrk(port, options.duration, options, f"r{number}", wrk_log)
                child.check()
                measured = dataclasses.replace(measured, cpu=tree_cpu(child.pid) - cpu_before)
                into.append(measured)
                if meter and costs_before:
                    costs = meter.since(costs_before, measured.requests)
                    (results.api_costs if child is api else results.naive_costs).append(costs)
                print(
                    f"run {number} {child.name}: {measured.per_second:.0f} requests/s, "
                    f"p50 {ms(measured.p50)}, p99 {ms(measured.p99)}, "
                    f"{measured.requests} requests, errors {measured.errors or 'none'}"
                )
        # More API load until --requests submissions were answered since the first RSS.
        answered = sum(r.requests for r in results.api)
        soak = 0
        while answered < options.requests:
            soak += 1
            rate = max(1.0, answered / (options.duration * options.runs))
            seconds = min(120, max(2, round((options.requests - answered) / rate) + 1))
            print(f"more API load: {seconds} s ({answered:,} of {options.requests:,} answered)")
            extra = run_wrk(api_port, seconds, options, f"s{soak}", wrk_log)
            api.check()
            results.soak_failed += extra.failed
            answered += extra.requests
        results.api_answered = answered
        results.rss_after = worker_rss(api.pid)
        results.load_after = load_average()

        check = create_engine(database_url)
        with check.connect() as connection:
            results.bookings = connection.execute(
                text("SELECT count(*) FROM booking_requests")
            ).scalar_one()
            results.pending_jobs = connection.execute(
                text("SELECT count(*) FROM jobs WHERE state = 'pending'")
            ).scalar_one()
        check.dispose()
        results.broker_messages = int(broker.llen("bureau"))
    return results


def prepare_database(settings: dict[str, str]) -> None:
    from flask_migrate import upgrade

    from bureau import create_app
    from bureau.config import SETTING_NAMES
    from bureau.demo.catalogue import load_demo_catalogue
    from bureau.demo.staff import load_demo_staff
    from bureau.extensions import db

    config: dict[str, Any] = dict.fromkeys(SETTING_NAMES, "") | settings
    app = create_app(config)
    with app.app_context():
        upgrade()
        load_demo_catalogue(db.session)
        load_demo_staff(db.session)
        db.session.commit()
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    return run_and_report(
        "bench.api",
        parse_args(argv),
        run,
        rows=Results.rows,
        write=write_results,
        summary=summary,
    )


if __name__ == "__main__":
    sys.exit(main())
