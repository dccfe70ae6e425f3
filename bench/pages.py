"""Staff and catalogue pages at 1,000 and at 1,000,000 booking requests: ``python -m bench.pages``.

A fresh PostgreSQL database (created, migrated, seeded with the demo catalogue and staff,
dropped at the end, also on Ctrl-C) gets 1,000 speakers (topics, languages, formats; COPY)
and 1,000 booking requests spread over two years and across the workflow: states by age,
assigned to the demo desks, each with its timeline, its route and mail jobs and emails, and
— as far as it got — shortlist, offer and hold. The requests are made in PostgreSQL itself
(``SEED_SQL``: a temporary table of drawn requests from ``generate_series``, then one
``INSERT … SELECT`` per table, ``FILL_SQL``; ``setseed`` makes the draws repeatable), so a
million take minutes without a row passing through Python. After ``VACUUM ANALYZE``
gunicorn serves it (Bureau's config file, 4 sync workers, as ``python -m bench.api`` does) and
wrk (``bench/pages.lua``) GETs each page in turn, signed in where it must be (one login over
HTTP with the form's CSRF token; the session cookie goes to wrk with ``-H``), for
``--duration`` seconds, ``--runs`` times; medians of the runs. Then the requests grow to
``--large`` (1,000,000; same speakers, same SQL, same server) and the same pages are
measured again: each page's p95 at the large size over its p95 at 1,000 (target ≤ 1.5) and
under 50 ms; the insights page for 52 weeks (half the requests in its period) under 300 ms.
That page serves a snapshot (bureau/insights/snapshot.py) that its first fetch at each size
computes and stores, so before it the snapshots are deleted and that fetch timed: the live
computation the page falls back to, reported in its own row beside the timed runs.
No Redis and no worker: pages read only (rate limits in memory).

Results are printed and appended to bench/RESULTS.md (``--no-write``); ``--json PATH``
writes the summary rows for ``python -m bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import wrk
from bench.api import prepare_database, serve
from bench.mailsink import free_port
from bench.report import (
    Summary,
    add_postgres_url,
    append_section,
    load_average,
    machine_info,
    ms,
    run_and_report,
    scratch_database,
    verdict,
    web_stack,
    work_folder,
)
from bureau.bookings.states import FUNNEL_RANK

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "pages.lua"
RATIO_TARGET = 1.5  # p95 at the large size over p95 at the small one
P95_TARGET = 0.050  # seconds, at the large size
INSIGHTS_TARGET = 0.300  # seconds, the insights page for 52 weeks at the large size
INSIGHTS_PAGE = "insights, 52 weeks"  # its name in the summary rows (keep it)
USER_AGENT = "bureau-bench-pages"  # the same for the login and wrk: sessions are "strong"
PASSWORD = "bench-pages-password"
ADMIN = "management@bureau.localhost"
AGENT = "tech.desk@bureau.localhost"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Options:
    speakers: int
    small: int
    large: int
    runs: int
    duration: int
    connections: int
    threads: int
    warm_up: int
    write: bool
    json: Path | None
    keep_logs: bool
    postgres_url: str


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages",
        description="Staff dashboard, request page, catalogue and insights at 1,000 and at "
        "1,000,000 booking requests (gunicorn, 4 sync workers, PostgreSQL), driven by wrk.",
    )
    parser.add_argument("--speakers", type=int, default=1000, help="speakers in all (1,000)")
    parser.add_argument("--small", type=int, default=1000, help="requests, first (1,000)")
    parser.add_argument("--large", type=int, default=1_000_000, help="requests, then (1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per page and size")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument(
        "--quick", action="store_true", help="20,000 requests as the large size, 1 run of 3 s"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=2,
        help="wrk connections (2: one per core, so p95 is the page's own latency; with more, "
        "requests queue for the CPUs and p95 grows with the connections)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warm-up", type=int, default=2, help="unmeasured seconds per page")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--json", type=Path, help="write the summary rows to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary folder")
    add_postgres_url(parser, "bureau_bench_pages_*")
    args = parser.parse_args(argv)
    large = 20_000 if args.quick else args.large
    runs = 1 if args.quick else args.runs
    duration = 3 if args.quick else args.duration
    if min(args.speakers, args.small, runs, duration, args.connections, args.threads) < 1:
        parser.error("sizes, --runs, --duration, --connections, --threads must be positive")
    if large <= args.small:
        parser.error("--large must be more than --small")
    if args.connections % args.threads:
        parser.error("--connections must be a multiple of --threads")
    return Options(
        speakers=args.speakers,
        small=args.small,
        large=large,
        runs=runs,
        duration=duration,
        connections=args.connections,
        threads=args.threads,
        warm_up=args.warm_up,
        write=not args.no_write,
        json=args.json,
        keep_logs=args.keep_logs,
        postgres_url=args.postgres_url,
    )


# --- the data

TOPIC_NAMES = [
    "Leadership", "Sustainability", "Climate Finance", "Supply Chains", "Retail Futures",
    "Healthcare Innovation", "Cybersecurity", "Fintech", "Consumer Trends", "Urban Mobility",
    "Energy Transition", "Geopolitics", "Diversity and Inclusion", "Future of Work", "Marketing",
    "Luxury Brands", "Education", "Food Systems", "Space Economy", "Biotech", "Blockchain",
    "Data Privacy", "Negotiation", "Entrepreneurship", "Manufacturing", "Tourism",
    "Real Estate", "Sports Business", "Media and Film", "Design Thinking",
]  # fmt: skip
FIRST = ["Anna", "Li", "Pieter", "Maria", "Chen", "David", "Sofia", "Wei", "James", "Amara",
         "Lucas", "Mei", "Omar", "Eva", "Hiro", "Nina", "Raj", "Zoe", "Tom", "Yara"]  # fmt: skip
LAST = ["de Vries", "Wang", "Smith", "Garcia", "Zhang", "Okafor", "Jansen", "Liu", "Brown",
        "Rossi", "Kim", "Müller", "Tanaka", "Silva", "Nguyen", "Cohen", "Berg", "Khan"]  # fmt: skip
PLACES = [
    ("Shanghai", "CN", "Asia/Shanghai"), ("Hong Kong", "HK", "Asia/Hong_Kong"),
    ("Amsterdam", "NL", "Europe/Amsterdam"), ("Berlin", "DE", "Europe/Berlin"),
    ("Paris", "FR", "Europe/Paris"), ("New York", "US", "America/New_York"),
    ("Toronto", "CA", "America/Toronto"), ("São Paulo", "BR", "America/Sao_Paulo"),
    ("Nairobi", "KE", "Africa/Nairobi"), ("Singapore", "SG", "Asia/Singapore"),
]  # fmt: skip
LANGUAGES = ["en", "zh", "nl", "de", "fr", "es"]
FORMATS = ["keynote", "panel", "workshop", "moderation", "fireside", "virtual"]
# The workflow a request has gone through, in order; where it stops is its state.
PATH = ["new", "assigned", "shortlisted", "offer_received", "awaiting_speaker",
        "speaker_accepted", "contracted", "confirmed", "completed"]  # fmt: skip
OPEN_SPREAD = ["new", "unassigned", "assigned", "assigned", "shortlisted", "shortlisted",
               "offer_received", "awaiting_speaker", "speaker_declined", "speaker_accepted",
               "contracted", "confirmed", "confirmed"]  # fmt: skip
ENDED = ["declined", "withdrawn", "cancelled", "expired"]
# A step's funnel stage (bureau.bookings.states.FUNNEL_RANK) in SQL.
FUNNEL_STAGE_SQL = "CASE step {} ELSE 0 END".format(
    " ".join(f"WHEN '{state}' THEN {rank}" for state, rank in FUNNEL_RANK.items() if rank)
)
OPEN_DAYS = 45  # requests younger than this are still in the workflow


@dataclass
class Rows:
    """Rows for COPY, per table, in column order."""

    columns: dict[str, tuple[str, ...]]
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, *values: Any) -> None:
        self.rows.setdefault(table, []).append(values)


ACCEPTED = ["speaker_accepted", "contracted", "confirmed", "completed"]
TABLES = (
    "booking_requests", "requested_speakers", "booking_events", "jobs", "notifications",
    "shortlist_entries", "offers", "holds",
)  # fmt: skip


def history(status: str) -> list[str]:
    """The states a request passed through to reach ``status`` (its timeline's steps); the
    seeding's SQL (``STEPS``) says the same."""
    if status in PATH:
        return PATH[: PATH.index(status) + 1]
    if status == "unassigned":
        return ["new", "unassigned"]
    if status == "speaker_declined":
        return [*PATH[:5], "speaker_declined"]
    return ["new", "assigned", status]  # declined, withdrawn, cancelled, expired


def sql_list(values: Iterable[Any]) -> str:
    """A text[] literal of the seeding's own constants (no user input reaches it)."""
    quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
    return f"ARRAY[{quoted}]::text[]"


def pick(values: Sequence[Any], draw: str) -> str:
    """SQL: one of ``values``, by the uniform draw ``draw`` in [0, 1)."""
    return f"({sql_list(values)})[floor({draw} * {len(values)})::int + 1]"


# One row per new request: when, its state by age (status_for in words: younger than
# OPEN_DAYS, anywhere in OPEN_SPREAD; older, 45% ended, the rest confirmed or completed by
# the event's date), the states it went through, its desk and 1-3 distinct speakers.
SEED_SQL = f"""
CREATE TEMP TABLE bench_seed ON COMMIT DROP AS
WITH pools AS (
    SELECT (SELECT array_agg(id ORDER BY id) FROM speakers WHERE is_active) AS sp_ids,
           (SELECT array_agg(home_city ORDER BY id) FROM speakers WHERE is_active) AS sp_homes,
           (SELECT array_agg(id ORDER BY id) FROM staff_members) AS st_ids,
           (SELECT array_agg(name ORDER BY id) FROM staff_members) AS st_names
), drawn AS (
    SELECT g AS rid, CAST(:now AS timestamptz) - random() * interval '730 days' AS created,
           random() AS r_starts, random() AS r_state, random() AS r_ended,
           {pick([f"{c}|{k}|{z}" for c, k, z in PLACES], "random()")} AS place,
           random() < 0.15 AS virtual,
           floor(random() * cardinality(st_ids))::int + 1 AS desk,
           (ARRAY[1, 1, 2, 3])[floor(random() * 4)::int + 1] AS picks,
           floor(random() * cardinality(sp_ids))::int AS i1,
           1 + floor(random() * (cardinality(sp_ids) - 1))::int AS d2,
           1 + floor(random() * greatest(cardinality(sp_ids) - 2, 1))::int AS d3,
           cardinality(sp_ids) AS n, sp_ids, sp_homes, st_ids, st_names
    FROM pools, generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
), stated AS (
    SELECT *, CASE
        WHEN CAST(:now AS timestamptz) - created < interval '{OPEN_DAYS} days'
            THEN {pick(OPEN_SPREAD, "r_state")}
        WHEN r_ended < 0.45 THEN {pick(ENDED, "r_state")}
        WHEN starts > CAST(:now AS timestamptz) THEN 'confirmed'
        ELSE 'completed' END AS status,
        ARRAY[i1, (i1 + d2) % n, (i1 + d3 + (d3 >= d2)::int) % n] AS at
    FROM (
        SELECT *, date_trunc('hour', created + (14 + r_starts * 166) * interval '1 day') AS starts
        FROM drawn
    ) AS dated
)
SELECT rid, created, starts, starts + interval '1 hour' AS ends, status,
       CASE WHEN status = ANY({sql_list(PATH)})
                THEN ({sql_list(PATH)})[1:array_position({sql_list(PATH)}, status)]
            WHEN status = 'unassigned' THEN ARRAY['new', 'unassigned']
            WHEN status = 'speaker_declined'
                THEN ({sql_list(PATH)})[1:5] || ARRAY['speaker_declined']
            ELSE ARRAY['new', 'assigned', status] END AS steps,
       split_part(place, '|', 1) AS city, split_part(place, '|', 2) AS country,
       split_part(place, '|', 3) AS zone, virtual,
       st_ids[desk] AS staff_id, st_names[desk] AS staff_name,
       (ARRAY[sp_ids[at[1] + 1], sp_ids[at[2] + 1], sp_ids[at[3] + 1]])[1:picks] AS picked,
       (ARRAY[sp_homes[at[1] + 1], sp_homes[at[2] + 1], sp_homes[at[3] + 1]])[1:picks] AS homes,
       'organizer' || rid || '@example.com' AS email,
       'BR-' || extract(year FROM created)::int || '-'
           || CASE WHEN rid < 1000000 THEN lpad(rid::text, 6, '0') ELSE rid::text END
           AS reference
FROM stated
"""
# What hangs off each request, as the workflow would have left it.
FILL_SQL = [
    f"""
INSERT INTO booking_requests (
    id, reference, status, tracking_token, version, source, event_name, organization,
    contact_name, contact_email, format, is_virtual, city, country, timezone, starts_local,
    ends_local, starts_at, ends_at, audience_size, budget_min, budget_max, currency, language,
    assigned_staff_id, assigned_at, created_at, updated_at, funnel_stage, first_response_at,
    first_confirmed_at, sla_breached)
SELECT rid, reference, status, md5(random()::text), cardinality(steps),
       {pick(["form", "api"], "random()")},
       {pick(TOPIC_NAMES, "random()")} || ' Summit ' || rid, 'Org ' || rid % 5000,
       {pick(FIRST, "random()")} || ' ' || {pick(LAST, "random()")}, email,
       {pick(FORMATS, "random()")}, virtual, CASE WHEN NOT virtual THEN city END,
       CASE WHEN NOT virtual THEN country END, zone, starts AT TIME ZONE 'UTC',
       ends AT TIME ZONE 'UTC', starts, ends, 50 + floor(random() * 1950)::int, 5000,
       (ARRAY[15000, 30000, 60000])[floor(random() * 3)::int + 1],
       'USD', {pick(["en", "en", "en", "zh", "nl"], "random()")},
       CASE WHEN 'assigned' = ANY(steps) THEN staff_id END,
       CASE WHEN 'assigned' = ANY(steps) THEN created + interval '1 minute' END,
       created, created + cardinality(steps) * interval '1 hour',
       -- The timeline's facts, as workflow.note() keeps them for the entries below: the
       -- furthest stage of its steps, the desk's first entry (step 3), the entry into
       -- confirmed; no SLA breach is seeded.
       (SELECT max({FUNNEL_STAGE_SQL}) FROM unnest(steps) AS step),
       CASE WHEN cardinality(steps) > 2 THEN created + interval '2 hours' END,
       created + (array_position(steps, 'confirmed') - 1) * interval '1 hour', false
FROM bench_seed ORDER BY rid
""",
    """
INSERT INTO requested_speakers (booking_id, preference, speaker_id)
SELECT rid, p, picked[p] FROM bench_seed, generate_subscripts(picked, 1) AS p
""",
    # Step 1 is the organizer's submission, step 2 the router's, later ones the desk's.
    """
INSERT INTO booking_events (
    booking_id, at, actor_kind, actor_id, actor_label, action, from_status, to_status,
    public_message, details)
SELECT rid, created + (n - 1) * interval '1 hour',
       CASE WHEN n > 2 THEN 'staff' WHEN n = 1 THEN 'organizer' ELSE 'system' END,
       CASE WHEN n > 2 THEN staff_id END,
       CASE WHEN n > 2 THEN staff_name ELSE 'Organizer' END,
       CASE WHEN n = 1 THEN 'submitted' ELSE 'status' END, steps[n - 1], steps[n],
       CASE WHEN n = 1 THEN 'Request received' ELSE 'Status changed' END, '{}'
FROM bench_seed, generate_subscripts(steps, 1) AS n ORDER BY rid, n
""",
    # Its route job and two mail jobs (acknowledgement, staff notice), all done; ids given
    # (3 per request from :first_job) so the emails can name theirs.
    f"""
INSERT INTO jobs (
    id, task, kind, booking_id, recipient, sequence, dedupe_key, payload, state, attempts,
    run_after, created_at, updated_at, finished_at)
SELECT CAST(:first_job AS integer) + (rid - CAST(:first AS integer)) * 3 + k.seq,
       k.task, k.kind, rid,
       CASE k.seq WHEN 1 THEN email WHEN 2 THEN '{AGENT}' END, 0,
       k.kind || ':' || rid || ':' || CASE k.seq WHEN 0 THEN '-' WHEN 1 THEN email
                                                  ELSE '{AGENT}' END || ':' || 0,
       '{{}}', 'done', 1, created, created, created, created + k.seq * interval '1 second'
FROM bench_seed, (VALUES (0, 'route', 'bureau.bookings.route'),
                         (1, 'mail.acknowledgement', 'bureau.mail.send'),
                         (2, 'mail.staff_notice', 'bureau.mail.send')) AS k (seq, kind, task)
ORDER BY rid, k.seq
""",
    """
INSERT INTO notifications (
    job_id, booking_id, template, recipient, subject, message_id, raw_message, created_at,
    sent_at)
SELECT j.id, j.booking_id, substr(j.kind, 6), j.recipient, 'Your request ' || s.reference,
       '<' || j.id || '.' || s.rid || '@bench>',
       'Subject: request ' || s.rid || E'\\r\\n\\r\\n' || repeat('Thank you for your request. ', 8),
       s.created, j.finished_at
FROM bench_seed AS s JOIN jobs AS j ON j.booking_id = s.rid AND j.kind LIKE 'mail.%'
ORDER BY j.id
""",
    """
INSERT INTO shortlist_entries (booking_id, speaker_id, position, fee_quote, currency, home_city)
SELECT rid, picked[p], p - 1, 20000, 'USD', homes[p]
FROM bench_seed, generate_series(1, least(cardinality(picked), 2)) AS p
WHERE 'shortlisted' = ANY(steps)
""",
    f"""
INSERT INTO offers (
    booking_id, speaker_id, fee, currency, format, timezone, starts_local, ends_local,
    starts_at, ends_at, is_virtual, city, country, made_by, created_at, response, responded_at)
SELECT rid, picked[1], 20000, 'USD', 'keynote', zone, starts AT TIME ZONE 'UTC',
       ends AT TIME ZONE 'UTC', starts, ends, virtual, CASE WHEN NOT virtual THEN city END,
       CASE WHEN NOT virtual THEN country END, 'organizer', created + interval '3 hours',
       CASE WHEN status = 'speaker_declined' THEN 'declined'
            WHEN status = ANY({sql_list(ACCEPTED)}) THEN 'accepted' END,
       CASE WHEN status = 'speaker_declined' OR status = ANY({sql_list(ACCEPTED)})
            THEN created + interval '5 hours' END
FROM bench_seed WHERE 'offer_received' = ANY(steps) ORDER BY rid
""",
    f"""
INSERT INTO holds (
    booking_id, offer_id, speaker_id, starts_at, ends_at, expires_at, state, created_at,
    updated_at, uid)
SELECT s.rid, o.id, o.speaker_id, s.starts, s.ends, s.created + interval '7 days',
       CASE WHEN s.status = ANY({sql_list(ACCEPTED)}) THEN 'confirmed'
            WHEN s.status = 'speaker_declined' OR s.status = ANY({sql_list(ENDED)})
                THEN 'released'
            ELSE 'active' END,
       s.created, s.created, 'hold-' || s.rid || '@bench.bureau.localhost'
FROM bench_seed AS s JOIN offers AS o ON o.booking_id = s.rid
WHERE 'awaiting_speaker' = ANY(s.steps) ORDER BY s.rid
""",
]


def speaker_rows(count: int, first_id: int, topic_ids: Sequence[int], seed: int) -> Rows:
    rng = random.Random(seed)
    out = Rows(
        {
            "speakers": (
                "id", "slug", "name", "headline", "bio", "home_city", "home_country",
                "home_timezone", "fee_min", "fee_max", "fee_currency", "is_fee_example",
                "is_active", "is_featured", "created_at", "updated_at",
            ),
            "speaker_topics": ("speaker_id", "topic_id"),
            "speaker_languages": ("speaker_id", "code", "position"),
            "speaker_formats": ("speaker_id", "format", "position"),
        }
    )  # fmt: skip
    now = datetime.now(UTC)
    for sid in range(first_id, first_id + count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        topics = rng.sample(list(enumerate(TOPIC_NAMES)), rng.randint(1, 4))
        city, country, zone = rng.choice(PLACES)
        low = rng.choice((2_000, 5_000, 10_000, 20_000, 40_000))
        subjects = " and ".join(t for _, t in topics)
        out.add(
            "speakers", sid, f"{name.lower().replace(' ', '-')}-{sid}", name,
            f"Speaker on {subjects}", f"{name} speaks on {subjects}. " * 6, city, country, zone,
            low, low * 2, "USD", True, rng.random() > 0.03, rng.random() < 0.01, now, now,
        )  # fmt: skip
        for index, _ in topics:
            out.add("speaker_topics", sid, topic_ids[index % len(topic_ids)])
        for position, code in enumerate(rng.sample(LANGUAGES, rng.randint(1, 3))):
            out.add("speaker_languages", sid, code, position)
        for position, kind in enumerate(rng.sample(FORMATS, rng.randint(1, 4))):
            out.add("speaker_formats", sid, kind, position)
    return out


def copy_rows(engine: Any, rows: Rows) -> None:
    """COPY every table's rows in one transaction, in the order the tables were given."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for table, columns in rows.columns.items():
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows.rows.get(table, ()):
                        copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def add_speakers(engine: Any, total: int) -> None:
    """Topics and speakers up to ``total`` (the demo's included)."""
    from sqlalchemy import text

    with engine.begin() as connection:
        have = connection.execute(text("SELECT count(*), coalesce(max(id), 0) FROM speakers")).one()
        for name in TOPIC_NAMES:
            slug = re.sub(r"\W+", "-", name.lower())
            connection.execute(
                text(
                    "INSERT INTO topics (slug, name) VALUES (:slug, :name) ON CONFLICT DO NOTHING"
                ),
                {"slug": slug, "name": name},
            )
        slugs = [re.sub(r"\W+", "-", name.lower()) for name in TOPIC_NAMES]
        found = dict(
            connection.execute(
                text("SELECT slug, id FROM topics WHERE slug = ANY(:s)"), {"s": slugs}
            ).all()
        )
        topic_ids = [found[slug] for slug in slugs]
    if total > have[0]:
        copy_rows(engine, speaker_rows(total - have[0], have[1] + 1, topic_ids, seed=7))
    set_sequences(engine, ("speakers",))


def add_requests(engine: Any, count: int, seed: float) -> None:
    """``count`` more booking requests, and all that hangs off them, in PostgreSQL: one
    ``INSERT … SELECT`` per table from a temporary table of drawn requests (``SEED_SQL``;
    ``seed`` in [-1, 1] makes the draws repeatable), then ``VACUUM ANALYZE``."""
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        connection.execute(text("SELECT setseed(:seed)"), {"seed": seed})
        first = int(
            connection.execute(
                text("SELECT coalesce(max(id), 0) + 1 FROM booking_requests")
            ).scalar_one()
        )
        first_job = int(
            connection.execute(text("SELECT coalesce(max(id), 0) + 1 FROM jobs")).scalar_one()
        )
        bounds = {"first": first, "last": first + count - 1, "now": datetime.now(UTC)}
        # Secondary indexes are dropped for the load and built again from their own
        # definitions after it (constraints stay, and check every row): building an index
        # once is far cheaper than updating it row by row, and the schema ends the same.
        indexes = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = ANY(:tables) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            ),
            {"tables": list(TABLES)},
        ).all()
        for name, _ in indexes:
            connection.execute(text(f'DROP INDEX "{name}"'))
        connection.execute(text(SEED_SQL), bounds)
        for statement in FILL_SQL:
            connection.execute(text(statement), {**bounds, "first_job": first_job})
        for _, definition in indexes:
            connection.execute(text(definition))
    set_sequences(engine, ("booking_requests", "jobs"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # What autovacuum does after many inserts: statistics, and the visibility map that
        # lets an index answer a count alone.
        connection.execute(text("VACUUM ANALYZE"))


def set_sequences(engine: Any, tables: Iterable[str]) -> None:
    from sqlalchemy import text

    with engine.begin() as connection:
        for table in tables:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            )


def table_counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("speakers", *TABLES)
        }


def set_passwords(settings: dict[str, str], emails: Sequence[str]) -> None:
    from sqlalchemy import select

    from bureau import create_app
    from bureau.config import SETTING_NAMES
    from bureau.extensions import db
    from bureau.staff.auth import set_password
    from bureau.staff.models import StaffMember

    app = create_app(dict.fromkeys(SETTING_NAMES, "") | settings)
    with app.app_context():
        for member in db.session.scalars(select(StaffMember).where(StaffMember.email.in_(emails))):
            set_password(member, PASSWORD)
        db.session.commit()
        db.engine.dispose()


# --- HTTP


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    who: str  # admin, agent, or public
    expect: str  # text the answer must hold
    ceiling: float = P95_TARGET  # seconds: its p95 at the large size must stay under this
    ratio: float | None = RATIO_TARGET  # its p95 at large over small, at most (None: no bound)


def fetch(
    port: int, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, str, list[str]]:
    """(status, body, Set-Cookie headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, text, response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


def cookie_header(set_cookies: Iterable[str], jar: dict[str, str] | None = None) -> str:
    """A Cookie header from Set-Cookie headers (later ones win)."""
    values = dict(jar or {})
    for header in set_cookies:
        for name, morsel in SimpleCookie(header).items():
            values[name] = morsel.value
    return "; ".join(f"{name}={value}" for name, value in values.items())


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def login(port: int, email: str) -> str:
    """Sign in through the form; the Cookie header of the signed-in session."""
    status, body, cookies = fetch(port, "GET", "/staff/login", {})
    token = CSRF.search(body)
    if status != 200 or token is None:
        raise RuntimeError(f"no login form ({status})")
    jar = dict(part.split("=", 1) for part in cookie_header(cookies).split("; ") if part)
    form = urlencode({"csrf_token": token[1], "email": email, "password": PASSWORD, "next": ""})
    status, body, cookies = fetch(
        port,
        "POST",
        "/staff/login",
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header([], jar)},
        form,
    )
    if status != 302:
        raise RuntimeError(f"login as {email} answered {status}:\n{body[:500]}")
    return cookie_header(cookies, jar)


def check_page(port: int, page: Page, cookies: dict[str, str]) -> None:
    headers = {"Cookie": cookies[page.who]} if page.who in cookies else {}
    status, body, _ = fetch(port, "GET", page.path, headers)
    if status != 200 or page.expect not in body:
        raise RuntimeError(
            f"{page.name} ({page.path}) answered {status} without {page.expect!r}:\n{body[:800]}"
        )


def run_wrk(
    port: int, page: Page, cookies: dict[str, str], seconds: int, options: Options, log: Path
) -> wrk.WrkResult:
    command = [
        "wrk", f"-t{options.threads}", f"-c{options.connections}", f"-d{seconds}s",
        "--timeout", "30s", "--latency", "-s", str(LUA_SCRIPT), "-H", f"User-Agent: {USER_AGENT}",
    ]  # fmt: skip
    if page.who in cookies:
        command += ["-H", f"Cookie: {cookies[page.who]}"]
    return wrk.run([*command, f"http://127.0.0.1:{port}{page.path}"], log)


# --- results


def target(page: Page) -> str:
    ceiling = f"< {page.ceiling * 1000:.0f} ms"
    return ceiling if page.ratio is None else f"≤ {page.ratio}x and {ceiling}"


@dataclass
class Results:
    started: datetime
    options: Options
    machine: dict[str, str] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)
    # size -> page name -> the runs
    measured: dict[int, dict[str, list[wrk.WrkResult]]] = field(default_factory=dict)
    populate_seconds: dict[int, float] = field(default_factory=dict)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    load: dict[str, str] = field(default_factory=dict)
    # size -> seconds of one insights page with no snapshot kept (computed live, then stored)
    live: dict[int, float] = field(default_factory=dict)

    def median(self, size: int, page: str, what: str) -> float:
        """The runs' median; a run that completed no request (each took longer than the
        run) has no latency to report but an unbounded one, not wrk's 0."""
        runs = self.measured[size][page]
        return float(
            statistics.median(
                math.inf if what != "per_second" and not r.requests else getattr(r, what)
                for r in runs
            )
        )

    def figures(self, page: str) -> tuple[float, float, float]:
        """p95 at the small size, at the large one, and their ratio."""
        o = self.options
        small, large = self.median(o.small, page, "p95"), self.median(o.large, page, "p95")
        return small, large, large / small if small else float("inf")

    def page(self, name: str) -> Page:
        return next(page for page in self.pages if page.name == name)

    def met(self, name: str) -> bool:
        page = self.page(name)
        _, large, ratio = self.figures(name)
        return (page.ratio is None or ratio <= page.ratio) and large < page.ceiling

    def rows(self) -> list[tuple[str, str, str]]:
        o = self.options
        rows = []
        for page in self.pages:
            small, large, ratio = self.figures(page.name)
            sizes = "; ".join(
                f"{size:,}: p50 {ms(self.median(size, page.name, 'p50'))}, p95 "
                f"{ms(self.median(size, page.name, 'p95'))}, p99 "
                f"{ms(self.median(size, page.name, 'p99'))}, "
                f"{self.median(size, page.name, 'per_second'):.0f}/s, p95 of each run "
                + "/".join(ms(r.p95) for r in self.measured[size][page.name])
                for size in (o.small, o.large)
            )
            rows.append(
                (
                    f"{page.name} `{page.path}`",
                    f"p95 {ms(small)} → {ms(large)} = {ratio:.2f}x ({sizes})",
                    f"{target(page)} {verdict(self.met(page.name))}",
                )
            )
        if self.live:
            rows.append(
                (
                    f"{INSIGHTS_PAGE} computed live (no snapshot; one fetch)",
                    ", ".join(f"{size:,}: {ms(t)}" for size, t in self.live.items()),
                    "",
                )
            )
        failed = sum(r.failed for runs in self.measured.values() for x in runs.values() for r in x)
        rows.append(
            (
                "check",
                f"every page answered 200 with its content before timing; failed requests "
                f"{failed}; rows at {o.large:,}: "
                + ", ".join(f"{t} {n:,}" for t, n in self.counts.get(o.large, {}).items()),
                "",
            )
        )
        rows.append(
            (
                "populating (INSERT … SELECT + VACUUM ANALYZE)",
                ", ".join(f"{s:,}: {t:.1f} s" for s, t in self.populate_seconds.items()),
                "",
            )
        )
        return rows

    def summary(self) -> list[Summary]:
        o = self.options
        return [
            Summary(
                benchmark="pages",
                measure=f"{page.name}: p95 at {o.large:,} requests",
                value=ms(large),
                baseline=f"{ms(small)} at {o.small:,}",
                ratio=f"{ratio:.2f}x",
                target=target(page),
                met=self.met(page.name),
            )
            for page in self.pages
            for small, large, ratio in [self.figures(page.name)]
        ]


def write_results(results: Results) -> str:
    """Append the results; return the section's heading."""
    m, o = results.machine, results.options
    return append_section(
        f"Pages benchmark {results.started:%Y-%m-%d %H:%M} UTC (`python -m bench.pages`)",
        [
            f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM; Python {m['python']}; "
            f"PostgreSQL {m['postgresql']}; {m['wrk']}; gunicorn {m['gunicorn']}, "
            f"Flask {m['flask']}",
            f"code: {m['commit']}; {o.speakers:,} speakers; {o.small:,} then {o.large:,} "
            f"requests; each page {o.runs} runs of {o.duration} s at {o.connections} "
            f"connections ({o.threads} wrk threads), medians; load average "
            + ", ".join(f"{k} {v}" for k, v in results.load.items()),
        ],
        results.rows(),
        header=("page", "p95 small → large (ratio; details)", "target"),
    )


# --- the benchmark


def live_insights(engine: Any, port: int, page: Page, cookies: dict[str, str]) -> float:
    """Seconds of one fetch of the insights page with no snapshot kept: the figures computed
    live, as the first view of a period (or one after beat stopped) has them; the snapshot
    it stores is what the timed runs then read."""
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(text("DELETE FROM insights_snapshots"))
    started = time.perf_counter()
    check_page(port, page, cookies)
    return time.perf_counter() - started


def measure(
    results: Results,
    size: int,
    port: int,
    cookies: dict[str, str],
    folder: Path,
    web: Any,
    engine: Any,
) -> None:
    o = results.options
    log = folder / "wrk.log"
    results.measured[size] = {}
    for page in results.pages:
        if page.name == INSIGHTS_PAGE:
            results.live[size] = live_insights(engine, port, page, cookies)
            print(f"{size:,} requests, {page.name} computed live: {ms(results.live[size])}")
        check_page(port, page, cookies)
        if o.warm_up:
            run_wrk(port, page, cookies, o.warm_up, o, log)
    for number in range(1, o.runs + 1):
        for page in results.pages:
            measured = run_wrk(port, page, cookies, o.duration, o, log)
            web.check()
            results.measured[size].setdefault(page.name, []).append(measured)
            print(
                f"{size:,} requests, run {number}, {page.name}: p50 {ms(measured.p50)}, "
                f"p95 {ms(measured.p95)}, p99 {ms(measured.p99)}, "
                f"{measured.per_second:.0f}/s, errors {measured.errors or 'none'}"
            )


def pages_for(engine: Any) -> list[Page]:
    """The pages to measure; the request page is one of the agent's, at the shortlist step."""
    from sqlalchemy import text

    with engine.connect() as connection:
        booking_id, reference = connection.execute(
            text(
                "SELECT b.id, b.reference FROM booking_requests b "
                "JOIN staff_members s ON s.id = b.assigned_staff_id "
                "WHERE s.email = :agent AND b.status = 'assigned' ORDER BY b.id LIMIT 1"
            ),
            {"agent": AGENT},
        ).one()
        topic = connection.execute(
            text("SELECT slug FROM topics WHERE name = :name"), {"name": TOPIC_NAMES[1]}
        ).scalar_one()
    return [
        Page("staff dashboard, admin (all open)", "/staff/", "admin", 'data-queue-count="open"'),
        Page("staff dashboard, agent (mine)", "/staff/?queue=mine", "agent", "BR-"),
        Page("staff dashboard, closed queue", "/staff/?queue=closed", "admin", "BR-"),
        Page("request page (shortlist step)", f"/staff/requests/{booking_id}", "agent", reference),
        Page("catalogue", "/speakers", "public", 'href="/speakers/'),
        Page(
            "catalogue search",
            f"/speakers?q=finance&topic={topic}&fee=10k-25k",
            "public",
            'href="/speakers/',
        ),
        Page("API speakers", "/api/v1/speakers", "public", '"slug"'),
        # Half of all the requests are in its cohort: its bound is its own ceiling alone.
        Page(
            INSIGHTS_PAGE,
            "/staff/insights?preset=52w",
            "admin",
            'id="chart-weekly-figure"',
            ceiling=INSIGHTS_TARGET,
            ratio=None,
        ),
    ]


def run(options: Options) -> Results:
    from sqlalchemy import create_engine

    results = Results(started=datetime.now(UTC), options=options)
    with contextlib.ExitStack() as cleanup:
        folder = work_folder(cleanup, "bureau-pagesbench-", keep=options.keep_logs)
        admin, _, database_url = cleanup.enter_context(
            scratch_database(options.postgres_url, "bureau_bench_pages_")
        )
        results.machine = machine_info(admin, None) | web_stack()
        port = free_port()
        settings = {
            "BUREAU_ENV": "development",
            "BUREAU_INSTANCE_PATH": str(folder / "instance"),
            "BUREAU_DATABASE_URL": database_url,
            "BUREAU_BASE_URL": f"http://127.0.0.1:{port}",
        }
        print(f"database {database_url.rsplit('/', 1)[-1]}, folder {folder}")
        prepare_database(settings)
        set_passwords(settings, (ADMIN, AGENT))
        engine = create_engine(database_url)
        cleanup.callback(engine.dispose)
        started = time.perf_counter()
        add_speakers(engine, options.speakers)
        add_requests(engine, options.small, seed=0.1)
        results.populate_seconds[options.small] = time.perf_counter() - started
        results.counts[options.small] = table_counts(engine)
        results.pages = pages_for(engine)

        env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
        web = serve(cleanup, "web", "bureau:create_app()", port, env | settings, folder)
        cookies = {"admin": login(port, ADMIN), "agent": login(port, AGENT)}

        results.load[f"at {options.small:,}"] = load_average()
        measure(results, options.small, port, cookies, folder, web, engine)
        print(f"growing to {options.large:,} requests…")
        started = time.perf_counter()
        add_requests(engine, options.large - options.small, seed=0.2)
        results.populate_seconds[options.large] = time.perf_counter() - started
        results.counts[options.large] = table_counts(engine)
        results.load[f"at {options.large:,}"] = load_average()
        measure(results, options.large, port, cookies, folder, web, engine)
        results.load["after"] = load_average()
    return results


def main(argv: list[str] | None = None) -> int:
    return run_and_report(
        "bench.pages",
        parse_args(argv),
        run,
        rows=Results.rows,
        write=write_results,
        summary=Results.summary,
    )


if __name__ == "__main__":
    sys.exit(main())
