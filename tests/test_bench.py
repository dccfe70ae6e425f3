"""The benchmarks' pure parts: wrk's result line, anchors, verdicts, the summary table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import pipeline, wrk
from bench.__main__ import (
    BEGIN,
    END,
    Outcome,
    command,
    parse_args,
    place_run,
    summary_section,
)
from bench.pages import (
    ENDED,
    OPEN_DAYS,
    Options,
    Page,
    Results,
    add_requests,
    add_speakers,
    history,
)
from bench.report import Summary, anchor, append_section, read_json, write_json

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:5000/speakers
  Latency Distribution
     50%    5.00ms
BENCH-RESULT {"requests":1000,"duration_us":2000000,"p50_us":5000,"p90_us":9000,\
"p95_us":12000,"p99_us":30000,"max_us":45000,"mean_us":6.5,"connect":0,"read":0,"write":0,\
"status":3,"timeout":0}
"""


def test_wrk_result_line_is_read_in_seconds() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.requests == 1000
    assert result.per_second == 500
    assert (result.p50, result.p95, result.p99) == (0.005, 0.012, 0.030)
    assert result.errors == {"status": 3}
    assert result.failed == 3
    with pytest.raises(RuntimeError, match="no result line"):
        wrk.parse("Running 2s test\n")


def test_anchor_follows_github_headings() -> None:
    heading = "## Pages benchmark 2026-11-30 02:40 UTC (`python -m bench.pages`)"
    assert anchor(heading) == "#pages-benchmark-2026-11-30-0240-utc-python--m-benchpages"
    assert anchor("## 2026-11-29 20:26 UTC — 1000 requests, 3000 no-op tasks") == (
        "#2026-11-29-2026-utc--1000-requests-3000-no-op-tasks"
    )


def fake(p95: float, runs: int = 3) -> list[wrk.WrkResult]:
    return [wrk.WrkResult(100, 1.0, p95 / 2, p95, p95 * 2, p95 * 3, p95=p95)] * runs


def pages_results(small_p95: float, large_p95: float) -> Results:
    options = Options(1000, 1000, 100_000, 3, 10, 8, 2, 0, False, None, False, "")
    results = Results(started=datetime.now(UTC), options=options)
    results.pages = [Page("catalogue", "/speakers", "public", "x")]
    results.measured = {
        1000: {"catalogue": fake(small_p95)},
        100_000: {"catalogue": fake(large_p95)},
    }
    return results


@pytest.mark.parametrize(
    ("small", "large", "met"),
    [
        (0.010, 0.015, True),  # 1.5x exactly, under 50 ms
        (0.010, 0.016, False),  # grows too much
        (0.040, 0.055, False),  # flat enough but over 50 ms
    ],
)
def test_pages_verdict_needs_the_ratio_and_the_ceiling(
    small: float, large: float, met: bool
) -> None:
    results = pages_results(small, large)
    assert results.met("catalogue") is met
    (row,) = results.summary()
    assert row.met is met
    assert row.ratio == f"{large / small:.2f}x"
    assert "MISSED" in results.rows()[0][2] if not met else "(met)" in results.rows()[0][2]


def test_insights_has_its_own_ceiling_and_a_run_without_answers_misses() -> None:
    results = pages_results(0.010, 0.250)
    results.pages = [Page("catalogue", "/staff/insights", "admin", "x", 0.300, None)]
    assert results.met("catalogue")
    assert results.summary()[0].target == "< 300 ms"
    silent = dataclasses.replace(results.measured[100_000]["catalogue"][0], requests=0)
    results.measured[100_000]["catalogue"] = [silent] * 3  # every request outlasted the run
    assert not results.met("catalogue")


def test_the_insights_live_computation_has_its_own_row_and_no_summary() -> None:
    results = pages_results(0.010, 0.020)
    assert not any("computed live" in row[0] for row in results.rows())
    results.live = {1000: 0.05, 100_000: 2.5}
    (live,) = [row for row in results.rows() if "computed live" in row[0]]
    assert live[0].startswith("insights, 52 weeks computed live")
    assert live[1] == "1,000: 50 ms, 100,000: 2500 ms"
    assert [r.measure for r in results.summary()] == ["catalogue: p95 at 100,000 requests"]


def test_generated_requests_follow_the_workflow_by_age(
    postgres_database_factory: Callable[[], str], tmp_path: Path
) -> None:
    """The seeding's SQL (bench.pages.SEED_SQL, FILL_SQL) on a migrated database: states by
    age, each request's timeline the steps history() names, and what hangs off each."""
    from sqlalchemy import create_engine, text

    from tests.conftest import make_app, migrate_and_seed

    url = postgres_database_factory()
    migrate_and_seed(make_app(tmp_path, url))
    engine = create_engine(url)
    # Each index's name, columns and whether partial (a rebuilt predicate is deparsed anew).
    indexes = text(
        "SELECT indexname, split_part(indexdef, ' WHERE ', 1), indexdef LIKE '% WHERE %' "
        "FROM pg_indexes ORDER BY indexname"
    )
    try:
        add_speakers(engine, 40)
        with engine.connect() as connection:
            before = connection.execute(indexes).all()
        add_requests(engine, 600, seed=0.3)
        with engine.connect() as connection:
            assert connection.execute(indexes).all() == before  # dropped for the load, rebuilt
            rows = connection.execute(
                text(
                    "SELECT b.status, now() - b.created_at < :open, b.version, "
                    "array_agg(e.to_status ORDER BY e.at), "
                    "(SELECT count(*) FROM jobs j WHERE j.booking_id = b.id), "
                    "(SELECT count(*) FROM notifications n WHERE n.booking_id = b.id), "
                    "(SELECT count(*) FROM requested_speakers r WHERE r.booking_id = b.id), "
                    "(SELECT count(*) FROM holds h WHERE h.booking_id = b.id) "
                    "FROM booking_requests b JOIN booking_events e ON e.booking_id = b.id "
                    "GROUP BY b.id"
                ),
                {"open": timedelta(days=OPEN_DAYS)},
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == 600
    for status, young, version, steps, jobs, emails, speakers, holds in rows:
        assert steps == history(status)
        assert version == len(steps)
        assert (jobs, emails) == (3, 2)
        assert 1 <= speakers <= 3
        assert holds == ("awaiting_speaker" in steps)
        if not young:
            assert status in {"completed", "confirmed", *ENDED}
    young_states = {status for status, young, *_ in rows if young}
    assert "completed" not in young_states
    assert {"new", "assigned", "shortlisted"} <= young_states


def test_summary_json_round_trip(tmp_path: Path) -> None:
    rows = [Summary("pages", "catalogue p95", "9 ms", "8 ms at 1,000", "1.12x", "≤ 1.5x", True)]
    write_json(tmp_path / "s.json", "## Heading", rows)
    assert json.loads((tmp_path / "s.json").read_text())["section"] == "## Heading"
    assert read_json(tmp_path / "s.json") == ("## Heading", rows)
    assert rows[0].verdict == "met"


FACTS = {
    "nproc": "2", "cpu": "EPYC", "memory": "8 GiB", "python": "3.11", "postgresql": "15",
    "redis": "7", "wrk": "wrk 4.2", "commit": "abc1234", "flask": "3", "sqlalchemy": "2.1",
    "flask-sqlalchemy": "3.1", "celery": "5", "gunicorn": "23", "psycopg": "3", "redis-py": "",
}  # fmt: skip
STARTED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_summary_section_and_its_place_in_the_results_file() -> None:
    outcomes = [
        Outcome(
            "pages",
            0,
            60,
            "## Pages benchmark x",
            [Summary("pages", "m", "v", "b", "r", "t", False)],
        ),
        Outcome("api", 1, 5),
    ]
    section = summary_section(STARTED, "python -m bench", FACTS, outcomes, ("1", "2"))
    assert section.startswith("## Summary 2026-11-30 03:00 UTC (`python -m bench`)")
    assert "| pages | m | v | b | r | t | MISSED |" in section
    assert "FAILED (exit 1)" in section
    assert "[bench.pages](#pages-benchmark-x)" in section
    assert "bench.api (not written)" in section
    results = f"# Results\n\nintro\n\n{BEGIN}\n\n## older run\n\n{END}\n\n## About\n"
    history = f"# History\n\n{BEGIN}\n\n## oldest run\n"
    results, history = place_run(results, history, section)
    # The new run between the markers, above the unchanged text about the benchmarks …
    assert results.index("intro") < results.index(BEGIN) < results.index("## Summary")
    assert results.index("## Summary") < results.index(END) < results.index("## About")
    assert "## older run" not in results
    # … and the run it replaced on top of the earlier ones.
    assert history.index(BEGIN) < history.index("## older run") < history.index("## oldest run")
    # Files without the markers get them (a history without runs, a first run).
    results, history = place_run("# Results\n", "# History\n", section)
    assert results.startswith("# Results\n\n" + BEGIN)
    assert results.rstrip().endswith(END)
    assert history == "# History\n"


def test_append_section_writes_the_markdown_that_the_summary_links_to(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n")
    heading = append_section(
        "Pages benchmark 2026-11-30 02:40 UTC (`python -m bench.pages`)",
        ["machine: 2 CPUs", "code: abc1234"],
        [("catalogue `/speakers`", "p95 9 ms | 10 ms", "≤ 1.5x (met)"), ("check", "ok", "")],
        results_file=results,
    )
    assert heading == "## Pages benchmark 2026-11-30 02:40 UTC (`python -m bench.pages`)"
    assert results.read_text() == (
        "# Results\n"
        "\n"
        f"{heading}\n"
        "\n"
        "- machine: 2 CPUs\n"
        "- code: abc1234\n"
        "\n"
        "| measure | value | target |\n"
        "|---|---|---|\n"
        "| catalogue `/speakers` | p95 9 ms \\| 10 ms | ≤ 1.5x (met) |\n"
        "| check | ok |  |\n"
    )
    outcome = Outcome("pages", 0, 60, heading)
    section = summary_section(STARTED, "python -m bench", FACTS, [outcome], ("1", "2"))
    link = "[bench.pages](#pages-benchmark-2026-11-30-0240-utc-python--m-benchpages)"
    assert link in section
    assert link == f"[bench.pages]({anchor(heading)})"


def test_quick_runs_each_benchmark_once_and_smaller() -> None:
    options = parse_args(["--quick", "--only", "pages,pipeline,feeds"])
    assert options.runs == 1
    assert options.only == ("pages", "pipeline", "feeds")
    assert "--quick" in command("pages", options, Path("p.json"))
    assert "--quick" in command("pipeline", options, Path("q.json"))
    assert command("feeds", options, Path("f.json"))[-6:] == [
        "--events",
        "2000",
        "--runs",
        "1",
        "--json",
        "f.json",
    ]
    with pytest.raises(SystemExit):
        parse_args(["--only", "nothing"])


def test_sampler_reads_pss_at_new_rss_peaks_and_periodically(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench import processes

    rss = iter([1000, 1000, 2000, 1500, 1500])
    pss_reads: list[int] = []
    monkeypatch.setattr(processes, "process_tree", lambda root: [root])
    monkeypatch.setattr(processes, "_status_kib", lambda pid, field: next(rss))

    def pss_kib(pid: int) -> int:
        pss_reads.append(pid)
        return 700

    monkeypatch.setattr(processes, "_pss_kib", pss_kib)
    sampler = processes.TreeSampler({"worker": 42}, pss_every=4)
    for _ in range(5):
        sampler.sample()
    # Sample 1 (periodic), 3 (new RSS peak) and 5 (periodic again); not 2 nor 4.
    assert len(pss_reads) == 3
    peaks = sampler.snapshot("worker")
    assert peaks.rss_total_kib == 2000
    assert peaks.pss_total_kib == 700


def test_the_pipeline_reports_the_ratio_a_worker_that_cost_nothing_could_reach() -> None:
    results = pipeline.Results(started=datetime.now(UTC), options=pipeline.parse_args([]))
    results.machine = {"nproc": "2"}
    results.submitted, results.noop_per_s, results.processed_seconds = 1000, 600.0, 30.0
    results.processed_per_s, results.submit_seconds = 1000 / 30, 15.0
    results.cpu_noop = {"worker": 5.0}
    # 20 CPU-s outside the worker for 1,000 requests: 20 ms each, 100/s on 2 CPUs.
    results.cpu_pipeline = {"worker": 30.0, "web": 10.0, "postgres": 5.0, "redis": 0.5}
    results.cpu_pipeline |= {"bench": 4.5, "busy": 52.0, "idle": 8.0, "iowait": 0.0}
    rows = {measure: value for measure, value, _ in results.rows()}
    assert rows["ratio if the worker cost nothing"].startswith("16.7% (100 requests/s:")
    assert "20 ms of CPU per request, on 2 CPUs" in rows["ratio if the worker cost nothing"]


def test_pipeline_quick_sizes_give_way_to_explicit_ones() -> None:
    default = pipeline.parse_args([])
    assert (default.memory, default.runs, default.requests) == (20_000, 3, 1000)
    quick = pipeline.parse_args(["--quick"])
    assert (quick.memory, quick.runs, quick.requests, quick.idle) == (2000, 1, 300, 5)
    assert pipeline.parse_args(["--quick", "--memory", "0", "--runs", "2"]).memory == 0
    assert "--memory" in quick.as_args()
    assert "--quick" not in quick.as_args()
    with pytest.raises(SystemExit):
        pipeline.parse_args(["--memory", "5"])  # fewer requests than samples


def _memory(web: list[int], worker: list[int], step: int = 1000) -> pipeline.MemoryGrowth:
    growth = pipeline.MemoryGrowth(requests=step * (len(web) - 1), step=step, warm_up=2 * step)
    for i, (w, k) in enumerate(zip(web, worker, strict=True)):
        rss = {"web": {1: 20_000, 2: w, 3: w}, "worker": {4: 100_000, 5: k, 6: k}}
        growth.samples.append(pipeline.MemorySample(i * step, float(i), rss))
    return growth


def test_memory_is_compared_from_the_warm_up_sample_to_the_last() -> None:
    # Start-up growth (before 2,000) does not count; the web stays within 5 %, the worker's
    # pool children grow by 20 MiB each: 240,000 → 280,000 KiB, +16.7 %.
    growth = _memory(
        [50_000, 90_000, 100_000, 101_000, 102_000], [60_000, 70_000, 70_000, 80_000, 90_000]
    )
    assert growth.reference.processed == 2000
    assert growth.change("web") == pytest.approx(224_000 / 220_000 - 1)
    assert growth.met("web")
    assert not growth.met("worker")
    assert growth.change("worker") == pytest.approx(280_000 / 240_000 - 1)
    assert "every 1,000: 117 195 215 217 219" in growth.describe("web")

    results = pipeline.Results(started=datetime.now(UTC), options=pipeline.parse_args([]))
    results.memory = growth
    results.idle_latencies = [0.12, 0.15, 0.09]
    rows = {s.measure: s for s in pipeline.summary(results)}
    web = rows["web (gunicorn, 3 processes) RSS over 4,000 requests"]
    worker = rows["worker (Celery, 3 processes) RSS over 4,000 requests"]
    assert (web.target, web.verdict, web.ratio) == ("± 5%", "met", "+1.8%")
    assert (worker.verdict, worker.ratio, worker.baseline) == (
        "MISSED",
        "+16.7%",
        "234 MiB after 2,000",
    )
    idle = rows["201 → acknowledgement, idle (median)"]
    assert (idle.value, idle.target, idle.verdict) == ("120 ms", "< 100 ms", "MISSED")


def test_throttled_clients_keep_the_backlog_bounded() -> None:
    import http.server
    import threading

    posted: list[int] = []
    lock = threading.Lock()
    done = 0
    worst = 0

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal worst
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                posted.append(1)
                worst = max(worst, len(posted) - done)
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    submissions = [pipeline.Submission(f"{i}@example.com") for i in range(60)]

    def processed() -> int:
        return done

    try:
        threads = pipeline.submit_concurrently(
            server.server_address[1],
            submissions,
            lambda i: {"n": i},
            4,
            processed=processed,
            backlog=5,
        )
        while any(thread.is_alive() for thread in threads):
            with lock:
                done = min(done + 1, len(posted))  # a slow "worker"
            threading.Event().wait(0.005)
    finally:
        server.shutdown()
        server.server_close()
    assert all(s.status == 201 for s in submissions)
    assert 0 < worst <= 5
