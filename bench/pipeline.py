"""End-to-end benchmark of the booking pipeline: ``python -m bench.pipeline`` (from the repo root).

It builds a throw-away deployment on this machine — a fresh PostgreSQL database (migrated,
demo catalogue and staff), Redis as broker (one database number, flushed), an SMTP sink in
this process, gunicorn with 2 sync workers and a Celery worker (prefork, concurrency 2) —
and measures:

A. no-op throughput: ``bench.noop`` tasks through the same broker and worker, per second;
B. the pipeline: N requests POSTed to /api/v1/requests by a few client threads, until every
   request is routed and both its emails (acknowledgement + staff notice) reached the sink;
   fully processed requests per second, and the 201 → acknowledgement latency under load;
M. memory, once (after the runs, not repeated with ``--runs``): ``--memory`` requests
   (20,000) through Bureau as in B, never more than 200 submitted and not yet processed;
   the RSS of the web's and the worker's process trees at the start and every 1/20th of
   them fully processed. Target: RSS at the end within ± 5 % of RSS after the warm-up (the
   sample after 2/20ths: 2,000 of 20,000), per process kind;
C. idle latency: requests submitted one at a time, 201 → acknowledgement; target: median
   under 100 ms.

In each run, phase B also goes through the naive service (``bench/naive``: its own database,
Redis database 9 as broker, the same gunicorn and worker options, the same SMTP sink): Bureau's
fully processed rate and worker CPU per request over the naive service's are the targets, the
no-op rate is context. CPU per request (web, worker, the database's PostgreSQL backends) and
SQL statements, commits and Redis round trips (counted by ``bench/counting.py``) for both.

After a warm-up (``--warm-up`` requests through the whole pipeline, not counted), A and B run
``--runs`` times in turn on the same deployment; the table shows the run with the median
ratio, and a first row lists every run.

Throughout, the RSS of the worker's and the web's process trees is sampled every 0.2 s for
their peaks. Everything it started (processes, database, broker contents, temporary folder)
is removed on exit, also on Ctrl-C or an error. Results are printed and appended to
bench/RESULTS.md (``--no-write``).

``--quick`` runs once at smaller sizes (300 requests, 1,000 no-op tasks, 2,000 in phase M,
5 idle), to try it out. By default the working tree is measured; ``--ref HEAD`` measures a
commit instead (exported with ``git archive`` into a temporary folder, with this bench/
folder copied beside it).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from subprocess import PIPE
from types import FrameType, TracebackType
from typing import Any, NoReturn

from bench import report
from bench.costs import OBSERVER, CostMeter, Costs, ratio
from bench.mailsink import SMTPSink, free_port
from bench.processes import (
    KIB_PER_MIB,
    Child,
    TreePeaks,
    TreeSampler,
    cpu_usage,
    machine_cpu,
    pids_named,
    process_tree,
    tree_rss_kib,
    wait_for,
)
from bench.report import RESULTS_FILE, load_average, machine_info, print_table
from bench.report import ms as _ms
from bench.report import verdict as _verdict
from bench.tasks import NOOP_COUNTER, NOOP_FIRST, NOOP_LAST, READY_KEY

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent  # the code under test: the working tree, or a --ref export
# With --ref the benchmark runs from an exported copy and is told what it is measuring by
# this variable (and where to write by BENCH_RESULTS_FILE: report.RESULTS_FILE).
SOURCE_LABEL = os.environ.get("BENCH_SOURCE", "")
NEXT_YEAR = datetime.now(UTC).year + 1
IDLE_TARGET = 0.1  # seconds, median 201 → acknowledgement on an idle system
MEMORY_REQUESTS = 20_000  # phase M: RSS of the web and the worker over this many requests
MEMORY_STEPS = 20  # RSS sampled every requests/20 processed (1,000 of 20,000)
MEMORY_WARM_UP_STEPS = 2  # compared from the second sample on (2,000 of 20,000)
MEMORY_TARGET = 0.05  # RSS at the end within ± 5 % of RSS after the warm-up
MEMORY_BACKLOG = 200  # phase M: requests submitted and not yet processed, at most
MEMORY_STALL = 120  # seconds without a request processed: phase M gives up
QUICK = {"requests": 300, "noop": 1000, "idle": 5, "warm_up": 20, "memory": 2000}
NAIVE_REDIS_DB = 9  # the naive service's broker (Bureau's is 13)
NAIVE_RATE_TARGET = 1.0  # fully processed requests/s, Bureau over the naive service
NAIVE_WORKER_CPU_TARGET = 1.0  # worker CPU per request, Bureau over the naive task
WORKER_OPTIONS = [
    "--concurrency", "2", "--pool", "prefork", "--without-gossip", "--without-mingle",
    "--without-heartbeat", "--loglevel", "WARNING",
]  # fmt: skip
# The queues of Bureau's tasks (bureau.queue) and of the naive service's (Celery's default).
BROKER_QUEUES = ("bureau", "celery")
WEB_OPTIONS = ["--workers", "2", "--worker-class", "sync", "--log-level", "warning"]


# --- options


@dataclass(frozen=True)
class Options:
    requests: int
    noop: int
    idle: int
    memory: int
    clients: int
    runs: int
    warm_up: int
    write: bool
    demo_capacity: bool
    keep_logs: bool
    ref: str | None
    postgres_url: str
    redis_url: str
    naive_redis_url: str = ""  # empty: no naive service
    json: Path | None = None

    def as_args(self) -> list[str]:
        """The command line for these options, without --ref."""
        args = [
            *("--requests", str(self.requests), "--noop", str(self.noop)),
            *("--idle", str(self.idle), "--memory", str(self.memory)),
            *("--clients", str(self.clients)),
            *("--runs", str(self.runs), "--warm-up", str(self.warm_up)),
            *("--postgres-url", self.postgres_url, "--redis-url", self.redis_url),
            *(("--naive-redis-url", self.naive_redis_url) if self.naive_redis_url else ()),
        ]
        flags = {"--no-write": not self.write, "--demo-capacity": self.demo_capacity}
        flags["--no-naive"] = not self.naive_redis_url
        flags["--keep-logs"] = self.keep_logs
        args += ["--json", str(self.json.resolve())] if self.json else []
        return args + [flag for flag, on in flags.items() if on]


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description="Benchmark Bureau's web → outbox → worker → SMTP pipeline end to end.",
    )
    parser.add_argument("--requests", type=int, help="requests in the bulk run (1000)")
    parser.add_argument("--noop", type=int, help="no-op tasks in phase A (3000)")
    parser.add_argument("--idle", type=int, help="one-at-a-time requests at the end (20)")
    parser.add_argument(
        "--memory",
        type=int,
        help=f"requests in phase M, once, RSS of web and worker sampled ({MEMORY_REQUESTS}; "
        "0: no phase M)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="to try it out: smaller sizes ("
        + ", ".join(f"--{name.replace('_', '-')} {n}" for name, n in QUICK.items())
        + ") and one run, unless given",
    )
    parser.add_argument("--clients", type=int, default=4, help="HTTP client threads")
    parser.add_argument(
        "--runs",
        type=int,
        help="phases A and B this many times on the same deployment; the median run counts (3)",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        help="requests sent through the whole pipeline before the first measured run (50)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help=f"do not append to {RESULTS_FILE.name}"
    )
    parser.add_argument(
        "--demo-capacity",
        action="store_true",
        help="keep the demo staff capacity (20 open requests per desk): most requests then "
        "end up unassigned with an admin alert instead of being assigned",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the temporary folder with the logs"
    )
    parser.add_argument("--json", type=Path, help="write the summary rows to this file")
    parser.add_argument(
        "--ref",
        help="benchmark this git revision (e.g. HEAD), exported with git archive into a "
        "temporary folder, instead of the working tree (which may be mid-edit)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server where bureau_bench_* databases may be created and dropped",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="broker; this Redis database is FLUSHED at start and end",
    )
    parser.add_argument(
        "--naive-redis-url",
        default=os.environ.get("BENCH_NAIVE_REDIS_URL", f"redis://127.0.0.1:6379/{NAIVE_REDIS_DB}"),
        help="the naive service's broker; this Redis database is FLUSHED at start and end",
    )
    parser.add_argument(
        "--no-naive", action="store_true", help="without the naive service (bench/naive)"
    )
    args = parser.parse_args(argv)
    defaults = {"requests": 1000, "noop": 3000, "idle": 20, "warm_up": 50, "runs": 3}
    defaults["memory"] = MEMORY_REQUESTS
    if args.quick:
        defaults |= QUICK | {"runs": 1}
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    for name in ("requests", "noop", "clients", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.idle < 0 or args.warm_up < 0:
        parser.error("--idle and --warm-up must not be negative")
    if 0 < args.memory < MEMORY_STEPS:
        parser.error(f"--memory must be 0 or at least {MEMORY_STEPS}")
    return Options(
        requests=args.requests,
        noop=args.noop,
        idle=args.idle,
        memory=args.memory,
        clients=args.clients,
        runs=args.runs,
        warm_up=args.warm_up,
        write=not args.no_write,
        demo_capacity=args.demo_capacity,
        keep_logs=args.keep_logs,
        ref=args.ref,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        naive_redis_url="" if args.no_naive else args.naive_redis_url,
        json=args.json,
    )


# --- request bodies

# Four routes through the demo rules: Greater China venue, the "everyone else" pool (virtual,
# Africa), a European venue and an American venue.
VARIANTS: list[dict[str, Any]] = [
    {"speakers": ["winston-ma"], "city": "Shanghai", "country": "CN", "timezone": "Asia/Shanghai"},
    {"speakers": ["rupert-hoogewerf"], "virtual": True, "timezone": "Africa/Nairobi"},
    {"speakers": ["rupert-hoogewerf"], "city": "Amsterdam", "country": "NL",
     "timezone": "Europe/Amsterdam"},
    {"speakers": ["fons-tuinstra"], "city": "New York", "country": "US",
     "timezone": "America/New_York"},
]  # fmt: skip


def request_body(n: int, email: str) -> dict[str, Any]:
    """tests/conftest.valid_request(), dated next year, with a unique contact email."""
    body: dict[str, Any] = {
        "event_name": f"Future of Retail Summit {n}",
        "organization": "Acme Events",
        "contact_name": "Li Na",
        "contact_email": email,
        "contact_phone": "+86 21 5555 0100",
        "starts_at": f"{NEXT_YEAR}-03-10T09:00",
        "ends_at": f"{NEXT_YEAR}-03-10T10:00",
        "format": "keynote",
        "virtual": False,
        "audience_size": 300,
        "audience": "retail executives",
        "budget_min": 5000,
        "budget_max": 15000,
        "currency": "USD",
        "message": "AI in e-commerce",
    }
    body.update(VARIANTS[n % len(VARIANTS)])
    return body


# --- HTTP client


@dataclass
class Submission:
    email: str
    sent_at: float = 0.0
    answered_at: float = 0.0
    status: int = 0
    error: str | None = None
    reference: str | None = None  # from a 201's body


class ApiClient:
    """One connection per client thread. gunicorn's sync workers close every connection
    after the response; http.client then reconnects by itself on the next request."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> int:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        response.read()
        return response.status

    def submit(self, submission: Submission, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        submission.sent_at = time.monotonic()
        try:
            self.connection.request("POST", "/api/v1/requests", body=data, headers=headers)
            response = self.connection.getresponse()
            payload = response.read()
            submission.answered_at = time.monotonic()
            submission.status = response.status
            if response.status == 201:
                submission.reference = json.loads(payload).get("reference")
            else:
                submission.error = f"HTTP {response.status}: {payload[:200]!r}"
        except (OSError, http.client.HTTPException) as error:
            submission.answered_at = time.monotonic()
            submission.error = f"{type(error).__name__}: {error}"
            self.connection.close()

    def close(self) -> None:
        self.connection.close()


def submit_concurrently(
    port: int,
    submissions: list[Submission],
    bodies: Sequence[dict[str, Any]] | Callable[[int], dict[str, Any]],
    clients: int,
    *,
    processed: Callable[[], int] | None = None,
    backlog: int = 0,
) -> list[threading.Thread]:
    """Start ``clients`` threads that POST the bodies (a list, or made by index when sent) in
    order; returns the threads. With ``processed``, no POST while ``backlog`` requests are
    submitted and not yet ``processed()`` (phase M: the web and the worker go through the
    requests together, and no queue grows in the broker or the outbox)."""
    lock = threading.Lock()
    next_index = iter(range(len(submissions)))
    body = bodies if callable(bodies) else bodies.__getitem__

    def client() -> None:
        api = ApiClient(port)
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                while processed is not None and index - processed() >= backlog:
                    time.sleep(0.01)
                api.submit(submissions[index], body(index))
        finally:
            api.close()

    threads = [
        threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    return threads


# --- results


@dataclass(frozen=True)
class MemorySample:
    processed: int  # requests fully processed (both emails received) when sampled
    seconds: float  # since phase M began
    rss_kib: dict[str, dict[int, int]]  # process kind -> pid -> RSS, the tree's root first

    def total(self, kind: str) -> int:
        return sum(self.rss_kib[kind].values())


@dataclass
class MemoryGrowth:
    """Phase M: the RSS of the web's and the worker's process trees, sampled every ``step``
    requests fully processed, while ``requests`` go through the pipeline."""

    requests: int
    step: int
    warm_up: int  # the sample after this many requests is the reference
    samples: list[MemorySample] = field(default_factory=list)
    submitted: int = 0
    failed: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    @property
    def reference(self) -> MemorySample:
        return next(s for s in self.samples if s.processed >= self.warm_up)

    @property
    def last(self) -> MemorySample:
        return self.samples[-1]

    def change(self, kind: str) -> float:
        """RSS of ``kind``'s tree at the end over its RSS after the warm-up, minus 1."""
        before = self.reference.total(kind)
        return self.last.total(kind) / before - 1 if before else 0.0

    def met(self, kind: str) -> bool:
        return abs(self.change(kind)) <= MEMORY_TARGET

    def series(self, kind: str) -> str:
        return " ".join(f"{s.total(kind) / KIB_PER_MIB:.0f}" for s in self.samples)

    def describe(self, kind: str) -> str:
        """Both samples compared, per process, and every sample."""
        ref, last = self.reference, self.last

        def each(sample: MemorySample) -> str:
            return " + ".join(_mib(kib) for kib in sample.rss_kib[kind].values())

        return (
            f"{_mib(ref.total(kind))} after {ref.processed:,} → {_mib(last.total(kind))} after "
            f"{last.processed:,} ({self.change(kind):+.1%}; per process {each(ref)} → "
            f"{each(last)}); MiB every {self.step:,}: {self.series(kind)}"
        )


def percentile(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(p) - 1]


@dataclass
class Results:
    started: datetime
    options: Options
    machine: dict[str, str] = field(default_factory=dict)
    noop_per_s: float = 0.0
    noop_seconds: float = 0.0
    noop_send_seconds: float = 0.0
    noop_execution_per_s: float = 0.0  # between the first and the last execution
    submitted: int = 0
    failed_submissions: int = 0
    submit_seconds: float = 0.0
    http_median: float = 0.0
    http_p95: float = 0.0
    routed_seconds: float = 0.0
    processed_seconds: float = 0.0
    processed_per_s: float = 0.0
    ack_median: float = 0.0
    ack_p95: float = 0.0
    ack_max: float = 0.0
    idle_latencies: list[float] = field(default_factory=list)
    duplicates: int = 0
    booking_states: dict[str, int] = field(default_factory=dict)
    job_states: dict[str, int] = field(default_factory=dict)
    # CPU seconds used per component during phases A and B, and how long the phases took
    cpu_noop: dict[str, float] = field(default_factory=dict)
    cpu_pipeline: dict[str, float] = field(default_factory=dict)
    worker_memory: TreePeaks | None = None
    memory: MemoryGrowth | None = None  # phase M, once per benchmark
    web_memory: TreePeaks | None = None
    load_before: str = ""
    load_after: str = ""
    # What the deployment spent in phase B (CPU of web, worker, PostgreSQL backends; counts)
    costs: Costs | None = None
    # The naive service's phase B in the same run (bench/naive), when it was measured
    naive: Results | None = None
    # Every measured run (phases A and B) as its own Results; the fields above are the
    # median run's (by ratio) once run() is done.
    runs: list[Results] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.processed_per_s / self.noop_per_s if self.noop_per_s else 0.0

    @property
    def naive_ratio(self) -> float:
        """Fully processed requests/s, Bureau over the naive service (0 without it)."""
        if self.naive is None or not self.naive.processed_per_s:
            return 0.0
        return self.processed_per_s / self.naive.processed_per_s

    @property
    def worker_cpu_ratio(self) -> float:
        """Worker CPU per request, Bureau over the naive task (0 when unknown)."""
        if self.costs is None or self.naive is None or self.naive.costs is None:
            return 0.0
        naive = self.naive.costs.per_request("worker")
        return self.costs.per_request("worker") / naive if naive else 0.0

    @property
    def idle_median(self) -> float | None:
        return statistics.median(self.idle_latencies) if self.idle_latencies else None

    def rows(self) -> list[tuple[str, str, str]]:
        """(measure, value, target) for the table."""
        o = self.options
        rows = []
        if len(self.runs) > 1:
            each = "; ".join(
                f"{r.noop_per_s:.0f} no-op/s, {r.processed_per_s:.1f} req/s = {r.ratio:.1%}"
                + (
                    f", naive {r.naive.processed_per_s:.1f} req/s = {r.naive_ratio:.2f}x"
                    if r.naive is not None
                    else ""
                )
                for r in self.runs
            )
            rows.append((f"runs ({len(self.runs)}; the median one below)", each, ""))
        rows += [
            (
                "no-op tasks/s",
                f"{self.noop_per_s:.0f} ({o.noop} in {self.noop_seconds:.2f} s; sending took"
                f" {self.noop_send_seconds:.2f} s; first to last execution"
                f" {self.noop_execution_per_s:.0f}/s)",
                "",
            ),
            (
                "HTTP submissions/s",
                f"{self.submitted / self.submit_seconds:.1f} "
                f"({self.submitted} in {self.submit_seconds:.2f} s; POST median "
                f"{_ms(self.http_median)}, p95 {_ms(self.http_p95)})",
                "",
            ),
            ("all requests routed after", f"{self.routed_seconds:.2f} s", ""),
            (
                "fully processed requests/s",
                f"{self.processed_per_s:.1f} ({self.submitted} in {self.processed_seconds:.2f} s,"
                f" first POST to last email)",
                "",
            ),
            ("ratio processed/no-op (context)", f"{self.ratio:.1%}", ""),
            *self._naive_rows(),
            (
                "201 → ack under load",
                f"median {self.ack_median:.2f} s, p95 {self.ack_p95:.2f} s, "
                f"max {self.ack_max:.2f} s",
                "",
            ),
        ]
        if self.cpu_noop and self.cpu_pipeline:
            cpus = int(self.machine.get("nproc", "1"))
            rows.append(
                (
                    "CPU used in phase B",
                    f"{_cpu(self.cpu_pipeline)} (of {cpus * self.processed_seconds:.0f} CPU-s:"
                    f" {self.processed_seconds:.0f} s x {cpus} CPUs)",
                    "",
                )
            )
            rows.append(
                (
                    "worker CPU per request, per no-op task",
                    f"{_ms(self.cpu_pipeline['worker'] / self.submitted)}, "
                    f"{_ms(self.cpu_noop['worker'] / o.noop)}"
                    f" (web {_ms(self.cpu_pipeline['web'] / self.submitted)} per request)",
                    "",
                )
            )
            rows += self._ceiling_row(cpus)
        idle = self.idle_median
        if idle is not None:
            rows.append(
                (
                    f"201 → ack idle ({len(self.idle_latencies)} one at a time)",
                    f"median {_ms(idle)} (min {_ms(min(self.idle_latencies))}, "
                    f"max {_ms(max(self.idle_latencies))})",
                    f"< {_ms(IDLE_TARGET)} {_verdict(idle < IDLE_TARGET)}",
                )
            )
        rows += self._memory_rows()
        if self.worker_memory is not None:
            rows.append(("peak worker memory", _memory(self.worker_memory), ""))
        if self.web_memory is not None:
            rows.append(("peak web memory (gunicorn)", _memory(self.web_memory), ""))
        rows.append(
            (
                "check",
                f"bookings {_counts(self.booking_states)}; jobs {_counts(self.job_states)}; "
                f"failed POSTs {self.failed_submissions}; duplicate acks {self.duplicates}",
                "",
            )
        )
        return rows

    def _memory_rows(self) -> list[tuple[str, str, str]]:
        m = self.memory
        if m is None or not m.samples:
            return []
        rows = [
            (
                "phase M: requests through the pipeline",
                f"{m.submitted:,} in {m.seconds:.0f} s ({m.submitted / m.seconds:.1f}/s, at most "
                f"{MEMORY_BACKLOG} unprocessed); failed POSTs {m.failed}, "
                f"duplicate acks {m.duplicates}",
                "",
            )
        ]
        for kind, label in MEMORY_KINDS.items():
            rows.append(
                (
                    f"{label} RSS, phase M",
                    m.describe(kind),
                    f"± {MEMORY_TARGET:.0%} {_verdict(m.met(kind))}",
                )
            )
        return rows

    def _naive_rows(self) -> list[tuple[str, str, str]]:
        """Bureau beside the naive service, measured in the same run."""
        rows = []
        naive = self.naive
        if naive is not None:
            rows += [
                (
                    "naive service: fully processed requests/s",
                    f"{naive.processed_per_s:.1f} ({naive.submitted} in "
                    f"{naive.processed_seconds:.2f} s; POST median {_ms(naive.http_median)}, "
                    f"201 → ack median {naive.ack_median:.2f} s)",
                    "",
                ),
                (
                    "ratio processed, Bureau/naive",
                    f"{self.naive_ratio:.2f}x",
                    f"≥ {NAIVE_RATE_TARGET:.1f}x {_verdict(self.naive_ratio >= NAIVE_RATE_TARGET)}",
                ),
            ]
            if self.worker_cpu_ratio:
                rows.append(
                    (
                        "worker CPU per request, Bureau/naive",
                        f"{self.worker_cpu_ratio:.2f}x",
                        f"≤ {NAIVE_WORKER_CPU_TARGET:.1f}x "
                        f"{_verdict(self.worker_cpu_ratio <= NAIVE_WORKER_CPU_TARGET)}",
                    )
                )
        if self.costs is not None:
            rows.append(("per request, Bureau (phase B)", self.costs.describe(), ""))
        if naive is not None and naive.costs is not None:
            rows.append(("per request, naive (phase B)", naive.costs.describe(), ""))
        return rows

    def _ceiling_row(self, cpus: int) -> list[tuple[str, str, str]]:
        """The ratio the run could reach if the worker used no CPU at all: what the other
        parts (web, PostgreSQL, Redis, the benchmark's own clients and SMTP sink) used per
        request, on every CPU the machine has. A bound on what any worker could achieve."""
        rest = sum(self.cpu_pipeline[name] for name in OUR_PROCESSES if name != "worker")
        if rest <= 0 or not self.noop_per_s:
            return []
        per_s = cpus * self.submitted / rest
        return [
            (
                "ratio if the worker cost nothing",
                f"{per_s / self.noop_per_s:.1%} ({per_s:.0f} requests/s: the rest used"
                f" {_ms(rest / self.submitted)} of CPU per request, on {cpus} CPUs)",
                "",
            )
        ]


def summary(results: Results) -> list[report.Summary]:
    idle = results.idle_median
    rows = []
    naive = results.naive
    if naive is not None:
        rows.append(
            report.Summary(
                "pipeline",
                f"fully processed requests/s ({results.submitted} requests)",
                f"{results.processed_per_s:.1f}/s",
                f"{naive.processed_per_s:.1f}/s naive",
                f"{results.naive_ratio:.2f}x",
                f"≥ {NAIVE_RATE_TARGET:.1f}x",
                results.naive_ratio >= NAIVE_RATE_TARGET,
            )
        )
        if results.costs is not None and naive.costs is not None:
            rows += _cost_summary(results.costs, naive.costs, results.worker_cpu_ratio)
    rows += [
        report.Summary(
            "pipeline",
            "fully processed requests/s vs no-op tasks/s (context)",
            f"{results.processed_per_s:.1f}/s",
            f"{results.noop_per_s:.0f} no-op tasks/s",
            f"{results.ratio:.1%}",
            "",
            None,
        ),
        report.Summary(
            "pipeline",
            "201 → acknowledgement, idle (median)",
            "—" if idle is None else _ms(idle),
            "",
            "",
            f"< {_ms(IDLE_TARGET)}",
            None if idle is None else idle < IDLE_TARGET,
        ),
    ]
    memory = results.memory
    if memory is not None and memory.samples:
        rows += [
            report.Summary(
                "pipeline",
                f"{label} RSS over {memory.last.processed:,} requests",
                _mib(memory.last.total(kind)),
                f"{_mib(memory.reference.total(kind))} after {memory.reference.processed:,}",
                f"{memory.change(kind):+.1%}",
                f"± {MEMORY_TARGET:.0%}",
                memory.met(kind),
            )
            for kind, label in MEMORY_KINDS.items()
        ]
    return rows


def _cost_summary(costs: Costs, naive: Costs, worker_ratio: float) -> list[report.Summary]:
    def counted(c: Costs) -> str:
        return (
            f"{c.per_request('statements', 'worker'):.1f} SQL in "
            f"{c.per_request('commits', 'worker'):.1f} commits, "
            f"{c.per_request('redis', 'worker'):.1f} Redis"
        )

    return [
        report.Summary(
            "pipeline",
            "worker CPU per request",
            _ms(costs.per_request("worker")),
            f"{_ms(naive.per_request('worker'))} naive",
            f"{worker_ratio:.2f}x",
            f"≤ {NAIVE_WORKER_CPU_TARGET:.1f}x",
            0 < worker_ratio <= NAIVE_WORKER_CPU_TARGET,
        ),
        report.Summary(
            "pipeline",
            "web, PostgreSQL CPU per request",
            f"{_ms(costs.per_request('web'))}, {_ms(costs.per_request('postgres'))}",
            f"{_ms(naive.per_request('web'))}, {_ms(naive.per_request('postgres'))} naive",
            f"{ratio(costs.per_request('web'), naive.per_request('web'))}, "
            f"{ratio(costs.per_request('postgres'), naive.per_request('postgres'))}",
            "",
            None,
        ),
        report.Summary(
            "pipeline",
            "worker per request: SQL statements, commits, Redis round trips (counted)",
            counted(costs),
            f"{counted(naive)} naive",
            "",
            "",
            None,
        ),
    ]


# What phases A and B measure (each run anew); the rest is set once.
MEASURED_FIELDS = (
    *("noop_per_s", "noop_seconds", "noop_send_seconds", "noop_execution_per_s", "cpu_noop"),
    *("submitted", "failed_submissions", "submit_seconds", "http_median", "http_p95"),
    *("routed_seconds", "processed_seconds", "processed_per_s", "cpu_pipeline"),
    *("ack_median", "ack_p95", "ack_max", "duplicates", "costs", "naive"),
)


OUR_PROCESSES = ("worker", "web", "postgres", "redis", "bench")
MEMORY_KINDS = {"web": "web (gunicorn, 3 processes)", "worker": "worker (Celery, 3 processes)"}


def _cpu(used: dict[str, float]) -> str:
    """CPU seconds per component, what other processes used, and what was left idle."""
    other = max(0.0, used["busy"] - sum(used[name] for name in OUR_PROCESSES))
    parts = [f"{name} {used[name]:.1f}" for name in OUR_PROCESSES]
    parts += [f"other processes {other:.1f}", f"idle {used['idle']:.1f}"]
    return ", ".join(parts) + f" CPU-s; iowait {used['iowait']:.1f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


def _mib(kib: int) -> str:
    return f"{kib / KIB_PER_MIB:.0f} MiB"


def _memory(peaks: TreePeaks) -> str:
    per_process = ", ".join(
        f"{label} {_mib(kib)}"
        for _, (label, kib) in sorted(
            peaks.per_process.items(), key=lambda item: item[1][0] != "main"
        )
    )
    return (
        f"{_mib(peaks.rss_total_kib)} RSS total (PSS {_mib(peaks.pss_total_kib)}); "
        f"per process: {per_process}"
    )


def write_results(results: Results) -> str:
    """Append the results; return the section's heading."""
    m = results.machine
    o = results.options
    return report.append_section(
        f"{results.started:%Y-%m-%d %H:%M} UTC — {o.requests} requests, {o.noop} no-op tasks",
        [
            f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; Python {m['python']}; "
            f"PostgreSQL {m['postgresql']}; Redis {m['redis']}",
            f"code: {m['commit']}; load average before {results.load_before}, "
            f"after {results.load_after}",
        ],
        results.rows(),
    )


# --- machine


def git_commit() -> str:
    return SOURCE_LABEL or report.git_commit(ROOT)


# --- the benchmark


@dataclass
class Deployment:
    """One service the requests go through: Bureau, or the naive baseline (bench/naive)."""

    name: str
    port: int
    table: str  # where its booking requests are, with a status 'new' until routed
    engine: Any  # AUTOCOMMIT, application_name OBSERVER
    meter: CostMeter


class Bench:
    """Sets everything up in ``__enter__`` order and tears it down in reverse on exit."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cleanup = contextlib.ExitStack()
        self.children: list[Child] = []
        self.results = Results(started=datetime.now(UTC), options=options)

    # -- context

    def __enter__(self) -> Bench:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # No second Ctrl-C in the middle of cleaning up.
        previous = {
            sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            if exc_type is not None and issubclass(exc_type, Exception):  # not Ctrl-C, SIGTERM
                for child in self.children:
                    print(f"--- last lines of the {child.name} log", file=sys.stderr)
                    print(child.tail(), file=sys.stderr)
            print("cleaning up…", file=sys.stderr)
            self.cleanup.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- set-up

    def setup(self) -> None:

        o = self.options
        self.folder = report.work_folder(self.cleanup, "bureau-bench-", keep=o.keep_logs)

        # Broker: a Redis database of our own, empty at start and end.
        self.redis = report.flushed_redis(self.cleanup, o.redis_url)

        # Database: fresh, dropped at the end (after every process using it has stopped).
        admin, name, self.database_url = self.cleanup.enter_context(
            report.scratch_database(o.postgres_url, "bureau_bench_")
        )
        self.results.machine = machine_info(admin, self.redis, git_commit())
        print(f"database {name}, broker {o.redis_url}, folder {self.folder}")

        self.smtp = SMTPSink()
        self.smtp.start()
        self.cleanup.callback(self.smtp.stop)

        self.web_port = free_port()
        self.settings = {
            "BUREAU_ENV": "development",
            "BUREAU_INSTANCE_PATH": str(self.folder / "instance"),
            "BUREAU_DATABASE_URL": self.database_url,
            "BUREAU_BROKER_URL": o.redis_url,
            # Rate limits in Redis, as deployed (docker-compose.yml) and as bench.api runs.
            "BUREAU_REDIS_URL": o.redis_url,
            "BUREAU_SMTP_URL": self.smtp.url,
            "BUREAU_BASE_URL": f"http://127.0.0.1:{self.web_port}",
            "BUREAU_SUBMIT_RATE_LIMIT": "100000 per minute",
        }
        self._prepare_database()

        env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
        env |= self.settings | {"PYTHONUNBUFFERED": "1"}
        worker, web = self._start(
            "", "workers.celery_app", "bench.counting:bureau_app()", self.web_port, env
        )
        self.worker, self.web = worker, web

        # Memory is sampled from start-up on (phase labels separate the parts).
        self.sampler = TreeSampler({"worker": worker.pid, "web": web.pid})
        self.sampler.start()
        self.cleanup.callback(self.sampler.stop)

        wait_for(lambda: self._worker_ready(worker, self.redis), 120, "the worker to be ready")
        wait_for(lambda: self._web_ready(web, self.web_port), 60, "gunicorn to answer /healthz")
        self._warm_up_web()
        self.bureau = Deployment(
            "Bureau",
            self.web_port,
            "booking_requests",
            self.engine,
            CostMeter(
                self.engine, name, {"web": web.pid, "worker": worker.pid}, self.folder / "counts",
                self.redis,
            ),
        )  # fmt: skip
        self.naive: Deployment | None = None
        if o.naive_redis_url:
            self._setup_naive(base_env=env)

    def _start(
        self, prefix: str, celery_app: str, web_app: str, port: int, env: dict[str, str]
    ) -> tuple[Child, Child]:
        """A Celery worker and gunicorn, with the same options for Bureau and the naive
        service, each counting its SQL statements, commits and Redis round trips."""
        counts = self.folder / f"{prefix}counts"
        python = sys.executable
        children = []
        for role, command in (
            ("worker", [python, "-m", "celery", "-A", celery_app, "worker", *WORKER_OPTIONS,
                        "-I", "bench.tasks,bench.counting"]),
            ("web", [python, "-m", "gunicorn", *WEB_OPTIONS, "--bind", f"127.0.0.1:{port}",
                     web_app]),
        ):  # fmt: skip
            (counts / role).mkdir(parents=True)
            child = Child(
                f"{prefix}{role}",
                command,
                env=env | {"BENCH_COUNTS": str(counts / role)},
                cwd=ROOT,
                log=self.folder / f"{prefix}{role}.log",
            )
            child.start()
            self.children.append(child)
            self.cleanup.callback(child.stop)
            children.append(child)
        return children[0], children[1]

    def _setup_naive(self, base_env: dict[str, str]) -> None:
        """The naive service (bench/naive): its own database on the same server, its own
        Redis database as broker, the same SMTP sink, the same worker and gunicorn options."""
        from sqlalchemy import create_engine

        from bench.naive.demo import prepare_database as prepare_naive_database

        o = self.options
        client = report.flushed_redis(self.cleanup, o.naive_redis_url)
        _, name, url = self.cleanup.enter_context(
            report.scratch_database(o.postgres_url, "bureau_bench_naive_")
        )
        port = free_port()
        settings = {
            "NAIVE_DATABASE_URL": url,
            "NAIVE_BROKER_URL": o.naive_redis_url,
            "NAIVE_SMTP_HOST": "127.0.0.1",
            "NAIVE_SMTP_PORT": str(self.smtp.controller.port),
            "NAIVE_BASE_URL": f"http://127.0.0.1:{port}",
        }
        prepare_naive_database(url)
        print(f"naive service: database {name}, broker {o.naive_redis_url}")
        worker, web = self._start(
            "naive-", "bench.naive.worker", "bench.counting:naive_app()", port,
            base_env | settings,
        )  # fmt: skip
        wait_for(lambda: self._worker_ready(worker, client), 120, "the naive worker to be ready")
        wait_for(lambda: self._web_ready(web, port), 60, "the naive gunicorn to answer")
        engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"application_name": OBSERVER}
        )
        self.cleanup.callback(engine.dispose)
        meter = CostMeter(
            engine, name, {"web": web.pid, "worker": worker.pid}, self.folder / "naive-counts",
            client,
        )  # fmt: skip
        self.naive = Deployment("naive", port, "naive_requests", engine, meter)

    def _prepare_database(self) -> None:
        from flask_migrate import upgrade
        from sqlalchemy import create_engine, update

        from bureau import create_app
        from bureau.config import SETTING_NAMES
        from bureau.demo.catalogue import load_demo_catalogue
        from bureau.demo.staff import load_demo_staff
        from bureau.extensions import db
        from bureau.staff.models import StaffMember

        # Every setting explicit: nothing leaks in from this shell's BUREAU_* variables.
        config: dict[str, Any] = dict.fromkeys(SETTING_NAMES, "") | self.settings
        self.app = create_app(config)
        with self.app.app_context():
            upgrade()
            load_demo_catalogue(db.session)
            load_demo_staff(db.session)
            if not self.options.demo_capacity:
                db.session.execute(update(StaffMember).values(capacity=1_000_000))
            db.session.commit()
        self.engine = create_engine(
            self.database_url,
            isolation_level="AUTOCOMMIT",
            connect_args={"application_name": OBSERVER},  # not counted as Bureau's backends
        )
        self.cleanup.callback(self.engine.dispose)
        self.cleanup.callback(self._dispose_app_engine)

    def _dispose_app_engine(self) -> None:
        from bureau.extensions import db

        with self.app.app_context():
            db.engine.dispose()

    def _worker_ready(self, worker: Child, broker: Any) -> bool:
        worker.check()
        return bool(broker.exists(READY_KEY))

    def _web_ready(self, web: Child, port: int) -> bool:
        web.check()
        api = ApiClient(port)
        try:
            return api.get("/healthz") == 200
        except OSError:
            return False
        finally:
            api.close()

    def _warm_up_web(self) -> None:
        """Both gunicorn workers: first connections, imports and lazily built tables out of
        the way. The POSTs carry an unknown field: fully validated, refused (422), not stored."""
        threads = [threading.Thread(target=self._warm_up, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _warm_up(self) -> None:
        api = ApiClient(self.web_port)
        body = request_body(0, "warm-up@example.com") | {"bench_warm_up": True}
        try:
            for _ in range(10):
                api.get("/api/v1/speakers/winston-ma")
                refused = Submission("warm-up@example.com")
                api.submit(refused, body)
                if refused.status != 422:
                    raise RuntimeError(f"warm-up POST answered {refused.status}, not 422")
        finally:
            api.close()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: our web and worker trees, this process, and every postgres and
        redis-server process on the machine (other users' load included; 0 when remote), and
        the machine's busy, idle and iowait totals."""
        return machine_cpu() | cpu_usage(
            {
                "worker": lambda: process_tree(self.worker.pid),
                "web": lambda: process_tree(self.web.pid),
                "postgres": lambda: pids_named("postgres"),
                "redis": lambda: pids_named("redis-server"),
                "bench": lambda: [os.getpid()],
            }
        )

    def check_children(self) -> None:
        for child in self.children:
            child.check()

    # -- phases

    def run(self) -> Results:
        results = self.results
        results.load_before = load_average()
        self.setup()
        if self.options.warm_up:
            # Imports, template compilation, connection pools, prepared statements: not
            # part of what the runs measure.
            self.phase_pipeline(self.options.warm_up, "warm-up", measure=False)
        if self.options.warm_up and self.naive is not None:
            self.phase_pipeline(self.options.warm_up, "naive-warm-up", self.naive, measure=False)
        for run in range(1, self.options.runs + 1):
            self.phase_noop()
            self.phase_pipeline(self.options.requests, f"run{run}")
            if self.naive is not None:
                naive = Results(results.started, self.options, machine=results.machine)
                self.phase_pipeline(self.options.requests, f"naive-run{run}", self.naive, naive)
                results.naive = naive
            results.runs.append(dataclasses.replace(results, runs=[]))
            print(
                f"  run {run}: {results.noop_per_s:.0f} no-op/s, "
                f"{results.processed_per_s:.1f} requests/s, ratio {results.ratio:.1%}"
                + (f"; naive {naive.processed_per_s:.1f}/s" if self.naive is not None else "")
            )
        # The run with the median ratio: Bureau/naive, else Bureau/no-op.
        by = (lambda r: r.naive_ratio) if self.naive is not None else (lambda r: r.ratio)
        median_run = sorted(results.runs, key=by)[len(results.runs) // 2]
        for name in MEASURED_FIELDS:
            setattr(results, name, getattr(median_run, name))
        self.phase_memory()
        self.phase_idle()
        self.collect_states()
        results.load_after = load_average()
        self.sampler.stop()
        results.worker_memory = self.sampler.snapshot("worker")
        results.web_memory = self.sampler.snapshot("web")
        return results

    def phase_noop(self) -> None:
        n = self.options.noop
        print(f"phase A: {n} no-op tasks…")
        self.sampler.phase = "noop"
        celery = self.app.extensions["celery"]
        self.redis.delete(NOOP_COUNTER, NOOP_FIRST, NOOP_LAST)
        cpu_before = self.cpu()
        started = time.monotonic()
        with celery.producer_or_acquire() as producer:
            for _ in range(n):
                celery.send_task("bench.noop", producer=producer)
        sent = time.monotonic()
        deadline = sent + 60 + n / 20
        while int(self.redis.get(NOOP_COUNTER) or 0) < n:
            if time.monotonic() > deadline:
                done = int(self.redis.get(NOOP_COUNTER) or 0)
                raise TimeoutError(f"only {done} of {n} no-op tasks ran")
            self.check_children()
            time.sleep(0.01)
        finished = time.monotonic()
        self.results.cpu_noop = _minus(self.cpu(), cpu_before)
        self.results.noop_seconds = finished - started
        self.results.noop_send_seconds = sent - started
        self.results.noop_per_s = n / (finished - started)
        window = float(self.redis.get(NOOP_LAST) or 0) - float(self.redis.get(NOOP_FIRST) or 0)
        self.results.noop_execution_per_s = (n - 1) / window if window > 0 else 0.0

    def phase_pipeline(
        self,
        n: int,
        tag: str,
        deployment: Deployment | None = None,
        into: Results | None = None,
        *,
        measure: bool = True,
    ) -> None:
        """Phase B (or, with measure=False, the warm-up): n requests, all emails out, through
        Bureau (or ``deployment``), the results into ``self.results`` (or ``into``)."""
        sink = self.smtp.sink
        service = deployment or self.bureau
        results = into or self.results
        if not measure:
            results = Results(self.results.started, self.options)
        print(
            f"phase B ({tag}): {n} requests through {service.name}'s API, "
            f"{self.options.clients} clients…"
        )
        if service is self.bureau:
            self.sampler.phase = "pipeline" if measure else "warm-up"
        bookings_before, _ = self._booking_counts(service)
        emails = [f"bench-{tag}-{i}@example.com" for i in range(n)]
        bodies = [request_body(i, email) for i, email in enumerate(emails)]
        submissions = [Submission(email) for email in emails]
        mail_before = sink.count()
        cpu_before = self.cpu()
        costs_before = service.meter.snapshot()
        threads = submit_concurrently(service.port, submissions, bodies, self.options.clients)

        ok: int | None = None  # accepted requests, known once every client has finished
        routed_at: float | None = None
        deadline = time.monotonic() + 120 + n
        while True:
            if ok is None and not any(thread.is_alive() for thread in threads):
                ok = sum(1 for s in submissions if s.status == 201)
            if ok is not None and routed_at is None:
                total, new = self._booking_counts(service)
                if total - bookings_before >= ok and new == 0:
                    routed_at = time.monotonic()
            if (
                ok is not None
                and routed_at is not None
                and sink.count() - mail_before >= 2 * ok
                and all(sink.arrival(s.email) for s in submissions if s.status == 201)
            ):
                results.cpu_pipeline = _minus(self.cpu(), cpu_before)
                # Counted once the broker is drained too: the messages of jobs a batch ran
                # (they find them done) are part of what the requests cost.
                self._drain(service)
                results.costs = service.meter.since(costs_before, ok)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"pipeline unfinished: {sink.count() - mail_before} emails, "
                    f"bookings (total, new) = {self._booking_counts(service)}"
                )
            self.check_children()
            time.sleep(0.2)

        accepted = [s for s in submissions if s.status == 201]
        failed = [s for s in submissions if s.status != 201]
        if failed:
            print(f"  {len(failed)} POSTs failed, e.g. {failed[0].error}", file=sys.stderr)
        if not accepted:
            raise RuntimeError("no request was accepted")
        first = min(s.sent_at for s in submissions)
        results.submitted = len(accepted)
        results.failed_submissions = len(failed)
        results.submit_seconds = max(s.answered_at for s in accepted) - first
        http = [s.answered_at - s.sent_at for s in accepted]
        results.http_median, results.http_p95 = statistics.median(http), percentile(http, 95)
        results.routed_seconds = routed_at - first
        results.processed_seconds = sink.last_at - first
        results.processed_per_s = len(accepted) / results.processed_seconds
        latencies = [(sink.arrival(s.email) or 0.0) - s.answered_at for s in accepted]
        results.ack_median = statistics.median(latencies)
        results.ack_p95 = percentile(latencies, 95)
        results.ack_max = max(latencies)
        results.duplicates = sink.duplicates({s.email for s in accepted})

    def phase_memory(self) -> None:
        """Phase M, once: ``--memory`` requests through Bureau, at most MEMORY_BACKLOG of them
        unprocessed at a time; the RSS of the web's and the worker's process trees when the
        phase begins and every ``step`` requests fully processed (both emails received)."""
        n, sink = self.options.memory, self.smtp.sink
        if n == 0:
            return
        step = n // MEMORY_STEPS
        memory = MemoryGrowth(n, step, step * MEMORY_WARM_UP_STEPS)
        print(
            f"phase M: {n} requests through Bureau's API, {self.options.clients} clients, "
            f"RSS of web and worker every {step}…"
        )
        self.sampler.phase = "memory"
        wait_for(lambda: self._jobs_unfinished() == 0, 60, "the outbox to drain", 0.2)
        mail_before = sink.count()

        def processed() -> int:
            return (sink.count() - mail_before) // 2

        started = time.monotonic()

        def sample(done: int) -> None:
            rss = {kind: tree_rss_kib(child.pid) for kind, child in self._kinds().items()}
            taken = MemorySample(done, time.monotonic() - started, rss)
            memory.samples.append(taken)
            print(
                f"  {done:,} processed in {taken.seconds:.0f} s: "
                + ", ".join(f"{kind} {_mib(taken.total(kind))}" for kind in rss),
                flush=True,
            )

        sample(0)
        submissions = [Submission(f"bench-memory-{i}@example.com") for i in range(n)]
        threads = submit_concurrently(
            self.web_port,
            submissions,
            lambda i: request_body(i, submissions[i].email),
            self.options.clients,
            processed=processed,
            backlog=MEMORY_BACKLOG,
        )
        ok: int | None = None
        mark = step
        progress = (0, time.monotonic())  # processed, when it last changed
        while True:
            done = processed()
            if done != progress[0]:
                progress = (done, time.monotonic())
            if ok is None and not any(thread.is_alive() for thread in threads):
                ok = sum(1 for s in submissions if s.status == 201)
            if done >= mark and mark < (n if ok is None else ok):
                sample(done)
                mark += step
            if ok is not None and done >= ok:
                sample(done)
                break
            if time.monotonic() - progress[1] > MEMORY_STALL:
                # No beat runs here: a task message lost from the broker (another benchmark
                # flushing the same Redis database) is never sent again.
                raise TimeoutError(
                    f"phase M: no request processed for {MEMORY_STALL} s ({done} of {n}, "
                    f"{self._jobs_unfinished()} jobs pending or running; did something flush "
                    f"{self.options.redis_url}?)"
                )
            self.check_children()
            time.sleep(0.05)
        memory.seconds = time.monotonic() - started
        accepted = {s.email for s in submissions if s.status == 201}
        memory.submitted, memory.failed = len(accepted), n - len(accepted)
        missing = [email for email in accepted if sink.arrival(email) is None]
        if missing:
            raise RuntimeError(f"phase M: no acknowledgement for {len(missing)} requests")
        memory.duplicates = sink.duplicates(accepted)
        self.results.memory = memory
        for kind, label in MEMORY_KINDS.items():
            print(f"  {label}: {memory.describe(kind)}")

    def _kinds(self) -> dict[str, Child]:
        return {"web": self.web, "worker": self.worker}

    def _booking_counts(self, service: Deployment) -> tuple[int, int]:
        from sqlalchemy import text

        with service.engine.connect() as connection:
            total, new = connection.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE status = 'new') "
                    f"FROM {service.table}"  # one of two constant names
                )
            ).one()
        return int(total), int(new)

    def _drain(self, service: Deployment, timeout: float = 30.0) -> None:
        """Wait until ``service``'s broker holds no message, queued or being run (unacked:
        the workers acknowledge after the task), so that what its workers did for the
        requests is counted whole; the figures are taken anyway after ``timeout``."""
        broker = service.meter.redis
        deadline = time.monotonic() + timeout
        while sum(broker.llen(queue) for queue in BROKER_QUEUES) or broker.hlen("unacked"):
            if time.monotonic() > deadline:
                print(
                    f"  {service.name}'s broker not drained after {timeout:.0f} s", file=sys.stderr
                )
                return
            self.check_children()
            time.sleep(0.05)

    def _jobs_unfinished(self) -> int:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')")
                ).scalar_one()
            )

    def phase_idle(self) -> None:
        n, sink = self.options.idle, self.smtp.sink
        if n == 0:
            return
        print(f"phase C: {n} requests one at a time…")
        self.sampler.phase = "idle"
        wait_for(lambda: self._jobs_unfinished() == 0, 60, "the outbox to drain", 0.2)
        time.sleep(1.0)
        api = ApiClient(self.web_port)
        try:
            for i in range(n):
                email = f"bench-idle-{i}@example.com"
                submission = Submission(email)
                mail_before = sink.count()
                api.submit(submission, request_body(i, email))
                if submission.status != 201:
                    raise RuntimeError(f"idle request {i} refused: {submission.error}")
                if not sink.wait_for_recipient(email, 30):
                    raise TimeoutError(f"no acknowledgement for idle request {i}")
                arrived = sink.arrival(email)
                assert arrived is not None
                self.results.idle_latencies.append(arrived - submission.answered_at)
                # Let the staff notice go out too, so the next request meets an idle worker.
                if not sink.wait_for_count(mail_before + 2, 30):
                    raise TimeoutError(f"no staff notice for idle request {i}")
                wait_for(lambda: self._jobs_unfinished() == 0, 30, "the outbox to drain", 0.02)
        finally:
            api.close()

    def collect_states(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            self.results.booking_states = {
                str(state): int(n)
                for state, n in connection.execute(
                    text("SELECT status, count(*) FROM booking_requests GROUP BY status")
                )
            }
            self.results.job_states = {
                str(state): int(n)
                for state, n in connection.execute(
                    text("SELECT state, count(*) FROM jobs GROUP BY state")
                )
            }


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def run_revision(options: Options) -> int:
    """Export ``options.ref`` (plus this bench/ folder) and run the benchmark from there."""
    assert options.ref is not None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    commit = git("rev-parse", "--verify", f"{options.ref}^{{commit}}")
    source = Path(tempfile.mkdtemp(prefix="bureau-bench-src-"))
    try:
        archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", commit], stdout=PIPE)
        assert archive.stdout is not None
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            tar.extractall(source, filter="data")
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {commit} failed")
        shutil.copytree(
            BENCH_DIR,
            source / "bench",
            ignore=shutil.ignore_patterns("__pycache__", "scratch", "RESULTS.md", "HISTORY.md"),
            dirs_exist_ok=True,
        )
        env = os.environ | {
            "BENCH_RESULTS_FILE": str(RESULTS_FILE),
            "BENCH_SOURCE": f"{commit[:7]} (git archive of {options.ref})",
        }
        print(f"benchmarking {commit[:7]} ({options.ref}) exported to {source}")
        command = [sys.executable, "-m", "bench.pipeline", *options.as_args()]
        with subprocess.Popen(command, cwd=source, env=env) as child:
            signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:
                    continue  # the child got the same Ctrl-C; it cleans up and exits
    finally:
        shutil.rmtree(source, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.ref is not None:
        return run_revision(options)
    # Before create_app's basicConfig: keep migrations and libraries quiet.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        with Bench(options) as bench:
            results = bench.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        if "uncommitted" in git_commit():
            print(
                "hint: the working tree has uncommitted changes (perhaps mid-edit); "
                "--ref HEAD benchmarks the last commit instead",
                file=sys.stderr,
            )
        raise
    print_table(results.rows())
    section = ""
    if options.write:
        section = write_results(results)
        print(f"appended to {RESULTS_FILE}")
    if options.json:
        report.write_json(options.json, section, summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
