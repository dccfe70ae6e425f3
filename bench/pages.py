"""Staff and catalogue pages at 1,000 and at 100,000 booking requests: ``python -m bench.pages``.

A fresh PostgreSQL database (created, migrated, seeded with the demo catalogue and staff,
dropped at the end, also on Ctrl-C) gets 1,000 speakers (topics, languages, formats) and
1,000 booking requests spread over two years and across the workflow: states by age,
assigned to the demo desks, each with its timeline, its route and mail jobs and emails, and
— as far as it got — shortlist, offer and hold. After ``VACUUM ANALYZE`` gunicorn serves it
(Bureau's config file, 4 sync workers, as ``python -m bench.api`` does) and wrk
(``bench/pages.lua``) GETs each page in turn, signed in where it must be (one login over
HTTP with the form's CSRF token; the session cookie goes to wrk with ``-H``), for
``--duration`` seconds, ``--runs`` times; medians of the runs. Then the requests grow to
100,000 (same speakers, same server) and the same pages are measured again: each page's
p95 at 100,000 over its p95 at 1,000 (target ≤ 1.5) and under 50 ms. No Redis and no
worker: pages read only (rate limits in memory).

Results are printed and appended to bench/RESULTS.md (``--no-write``); ``--json PATH``
writes the summary rows for ``python -m bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import secrets
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

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "pages.lua"
RATIO_TARGET = 1.5  # p95 at the large size over p95 at the small one
P95_TARGET = 0.050  # seconds, at the large size
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
        description="Staff dashboard, request page and catalogue at 1,000 and at 100,000 "
        "booking requests (gunicorn, 4 sync workers, PostgreSQL), driven by wrk.",
    )
    parser.add_argument("--speakers", type=int, default=1000, help="speakers in all (1,000)")
    parser.add_argument("--small", type=int, default=1000, help="requests, first (1,000)")
    parser.add_argument("--large", type=int, default=100_000, help="requests, then (100,000)")
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
OPEN_DAYS = 45  # requests younger than this are still in the workflow


@dataclass
class Ids:
    """The next free id of each table filled here (ids are given, the sequences set after)."""

    request: int = 1
    offer: int = 1
    job: int = 1

    @classmethod
    def after(cls, connection: Any) -> Ids:
        from sqlalchemy import text

        def next_id(table: str) -> int:
            return int(
                connection.execute(
                    text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
                ).scalar_one()
            )

        return cls(next_id("booking_requests"), next_id("offers"), next_id("jobs"))


def status_for(rng: random.Random, created: datetime, starts: datetime, now: datetime) -> str:
    """Where a request created then for an event then stands now."""
    if now - created < OPEN_DAYS * DAY:
        return rng.choice(OPEN_SPREAD)
    if rng.random() < 0.45:
        return rng.choice(ENDED)
    return "confirmed" if starts > now else "completed"


def history(status: str) -> list[str]:
    """The states a request passed through to reach ``status`` (its timeline's steps)."""
    if status in PATH:
        return PATH[: PATH.index(status) + 1]
    if status == "unassigned":
        return ["new", "unassigned"]
    if status == "speaker_declined":
        return [*PATH[:5], "speaker_declined"]
    return ["new", "assigned", status]  # declined, withdrawn, cancelled, expired


@dataclass
class Rows:
    """Rows for COPY, per table, in column order."""

    columns: dict[str, tuple[str, ...]]
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, *values: Any) -> None:
        self.rows.setdefault(table, []).append(values)


COLUMNS: dict[str, tuple[str, ...]] = {
    "booking_requests": (
        "id", "reference", "status", "tracking_token", "version", "source", "event_name",
        "organization", "contact_name", "contact_email", "format", "is_virtual", "city",
        "country", "timezone", "starts_local", "ends_local", "starts_at", "ends_at",
        "audience_size", "budget_min", "budget_max", "currency", "language",
        "assigned_staff_id", "assigned_at", "created_at", "updated_at",
    ),
    "requested_speakers": ("booking_id", "preference", "speaker_id"),
    "booking_events": (
        "booking_id", "at", "actor_kind", "actor_id", "actor_label", "action", "from_status",
        "to_status", "public_message", "details",
    ),
    "jobs": (
        "id", "task", "kind", "booking_id", "recipient", "sequence", "dedupe_key", "payload",
        "state", "attempts", "run_after", "created_at", "updated_at", "finished_at",
    ),
    "notifications": (
        "job_id", "booking_id", "template", "recipient", "subject", "message_id",
        "raw_message", "created_at", "sent_at",
    ),
    "shortlist_entries": (
        "booking_id", "speaker_id", "position", "fee_quote", "currency", "home_city",
    ),
    "offers": (
        "id", "booking_id", "speaker_id", "fee", "currency", "format", "timezone",
        "starts_local", "ends_local", "starts_at", "ends_at", "is_virtual", "city", "country",
        "made_by", "created_at", "response", "responded_at",
    ),
    "holds": (
        "booking_id", "offer_id", "speaker_id", "starts_at", "ends_at", "expires_at", "state",
        "created_at", "updated_at",
    ),
}  # fmt: skip
ACCEPTED = {"speaker_accepted", "contracted", "confirmed", "completed"}


def request_rows(
    ids: Ids,
    count: int,
    speakers: Sequence[tuple[int, str]],
    staff: Sequence[tuple[int, str]],
    now: datetime,
    seed: int,
) -> Rows:
    """``count`` booking requests from ``ids.request`` on, with what hangs off each."""
    rng = random.Random(seed)
    out = Rows(COLUMNS)
    for _ in range(count):
        rid = ids.request
        ids.request += 1
        created = now - timedelta(seconds=rng.uniform(0, 730 * 86400))
        starts = (created + rng.uniform(14, 180) * DAY).replace(minute=0, second=0, microsecond=0)
        ends = starts + timedelta(hours=1)
        status = status_for(rng, created, starts, now)
        steps = history(status)
        city, country, zone = rng.choice(PLACES)
        virtual = rng.random() < 0.15
        staff_id, staff_name = rng.choice(staff)
        assigned = "assigned" in steps
        picked = rng.sample(speakers, rng.choice((1, 1, 2, 3)))
        email = f"organizer{rid}@example.com"
        out.add(
            "booking_requests", rid, f"BR-{created.year}-{rid:06d}", status,
            secrets.token_hex(16), len(steps), rng.choice(("form", "api")),
            f"{rng.choice(TOPIC_NAMES)} Summit {rid}", f"Org {rid % 5000}",
            f"{rng.choice(FIRST)} {rng.choice(LAST)}", email, rng.choice(FORMATS), virtual,
            None if virtual else city, None if virtual else country, zone,
            starts.replace(tzinfo=None), ends.replace(tzinfo=None), starts, ends,
            rng.randrange(50, 2000), 5000, rng.choice((15_000, 30_000, 60_000)), "USD",
            rng.choice(("en", "en", "en", "zh", "nl")), staff_id if assigned else None,
            created + timedelta(minutes=1) if assigned else None, created,
            created + timedelta(hours=len(steps)),
        )  # fmt: skip
        for preference, (speaker_id, _) in enumerate(picked, start=1):
            out.add("requested_speakers", rid, preference, speaker_id)
        for n, step in enumerate(steps):
            at = created + timedelta(hours=n)
            staff_step = n > 1
            kind = "staff" if staff_step else "organizer" if n == 0 else "system"
            out.add(
                "booking_events", rid, at, kind,
                staff_id if staff_step else None, staff_name if staff_step else "Organizer",
                "submitted" if n == 0 else "status", steps[n - 1] if n else None, step,
                "Status changed" if n else "Request received", "{}",
            )  # fmt: skip
        for sequence, (kind, recipient) in enumerate(
            (("route", None), ("mail.acknowledgement", email), ("mail.staff_notice", AGENT))
        ):
            job_id = ids.job
            ids.job += 1
            task = "bureau.bookings.route" if kind == "route" else "bureau.mail.send"
            out.add(
                "jobs", job_id, task, kind, rid, recipient, 0,
                f"{kind}:{rid}:{recipient or '-'}:0", "{}", "done", 1, created,
                created, created, created + timedelta(seconds=sequence),
            )  # fmt: skip
            if recipient is not None:
                out.add(
                    "notifications", job_id, rid, kind.removeprefix("mail."), recipient,
                    f"Your request BR-{created.year}-{rid:06d}", f"<{job_id}.{rid}@bench>",
                    f"Subject: request {rid}\r\n\r\n" + "Thank you for your request. " * 8,
                    created, created + timedelta(seconds=sequence),
                )  # fmt: skip
        if "shortlisted" in steps:
            for position, (speaker_id, home) in enumerate(picked[:2] or speakers[:1]):
                out.add("shortlist_entries", rid, speaker_id, position, 20_000, "USD", home)
        if "offer_received" in steps:
            offer_id = ids.offer
            ids.offer += 1
            speaker_id = picked[0][0]
            answered = status in ACCEPTED or status == "speaker_declined"
            out.add(
                "offers", offer_id, rid, speaker_id, 20_000, "USD", "keynote", zone,
                starts.replace(tzinfo=None), ends.replace(tzinfo=None), starts, ends, virtual,
                None if virtual else city, None if virtual else country, "organizer",
                created + timedelta(hours=3),
                ("declined" if status == "speaker_declined" else "accepted") if answered else None,
                created + timedelta(hours=5) if answered else None,
            )  # fmt: skip
            if "awaiting_speaker" in steps:
                hold = "confirmed" if status in ACCEPTED else "active"
                if status in ("speaker_declined", *ENDED):
                    hold = "released"
                out.add(
                    "holds", rid, offer_id, speaker_id, starts, ends, created + 7 * DAY, hold,
                    created, created,
                )  # fmt: skip
    return out


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


def add_requests(engine: Any, count: int, seed: int) -> None:
    from sqlalchemy import text

    with engine.connect() as connection:
        speakers = connection.execute(
            text("SELECT id, home_city FROM speakers WHERE is_active ORDER BY id")
        ).all()
        staff = connection.execute(text("SELECT id, name FROM staff_members ORDER BY id")).all()
        ids = Ids.after(connection)
    now = datetime.now(UTC)
    step = 20_000  # rows held in memory at once, per table
    for start in range(0, count, step):
        copy_rows(
            engine, request_rows(ids, min(step, count - start), speakers, staff, now, seed + start)
        )
    set_sequences(engine, ("booking_requests", "offers", "jobs"))
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
            for table in ("speakers", *COLUMNS)
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

    def median(self, size: int, page: str, what: str) -> float:
        return float(statistics.median(getattr(r, what) for r in self.measured[size][page]))

    def figures(self, page: str) -> tuple[float, float, float]:
        """p95 at the small size, at the large one, and their ratio."""
        o = self.options
        small, large = self.median(o.small, page, "p95"), self.median(o.large, page, "p95")
        return small, large, large / small if small else float("inf")

    def met(self, page: str) -> bool:
        _, large, ratio = self.figures(page)
        return ratio <= RATIO_TARGET and large < P95_TARGET

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
                    f"≤ {RATIO_TARGET}x and < {P95_TARGET * 1000:.0f} ms "
                    f"{verdict(self.met(page.name))}",
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
                "populating (COPY + VACUUM ANALYZE)",
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
                target=f"≤ {RATIO_TARGET}x, < {P95_TARGET * 1000:.0f} ms",
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


def measure(
    results: Results, size: int, port: int, cookies: dict[str, str], folder: Path, web: Any
) -> None:
    o = results.options
    log = folder / "wrk.log"
    results.measured[size] = {}
    for page in results.pages:
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
        add_requests(engine, options.small, seed=1)
        results.populate_seconds[options.small] = time.perf_counter() - started
        results.counts[options.small] = table_counts(engine)
        results.pages = pages_for(engine)

        env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
        web = serve(cleanup, "web", "bureau:create_app()", port, env | settings, folder)
        cookies = {"admin": login(port, ADMIN), "agent": login(port, AGENT)}

        results.load[f"at {options.small:,}"] = load_average()
        measure(results, options.small, port, cookies, folder, web)
        print(f"growing to {options.large:,} requests…")
        started = time.perf_counter()
        add_requests(engine, options.large - options.small, seed=1_000_003)
        results.populate_seconds[options.large] = time.perf_counter() - started
        results.counts[options.large] = table_counts(engine)
        results.load[f"at {options.large:,}"] = load_average()
        measure(results, options.large, port, cookies, folder, web)
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
