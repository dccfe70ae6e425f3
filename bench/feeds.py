"""Calendar feed benchmark: ``python -m bench.feeds [--events 10000] [--runs 3] [--no-write]``.

Builds a speaker with N engagements in a throw-away SQLite database and measures (medians of
``--runs``; the cold feed once):
icalendar building and serialising the feed from scratch; the served feed cold (renders and
keeps every event's text), warm after one change, and a repeat answered 304 by ETag. The fast
feed is parsed strictly (the `ical` package) and compared with the from-scratch one event for
event. Results are appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar
from sqlalchemy import insert, select, update

from bench.report import Row, Summary, append_section, write_json
from bureau import create_app
from bureau.calendar.feeds import engagement_event
from bureau.calendar.ics import PRODID
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.extensions import db

ZONES = ["Europe/Amsterdam", "Asia/Shanghai", "America/New_York", "Asia/Hong_Kong"]


def populate(n: int) -> tuple[str, str]:
    from bureau.bookings.models import BookingRequest
    from bureau.demo.catalogue import load_demo_catalogue

    load_demo_catalogue(db.session)
    speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
    speaker.feed_token = secrets.token_urlsafe(24)
    db.session.commit()
    start = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    now = datetime.now(UTC)
    bookings, engagements = [], []
    for i in range(n):
        when = start + timedelta(hours=6 * i)
        zone = ZONES[i % len(ZONES)]
        bookings.append(
            {
                "id": i + 1,
                "reference": f"BR-2027-{i + 1:05d}",
                "status": "confirmed",
                "tracking_token": secrets.token_urlsafe(16),
                "version": 1,
                "source": "api",
                "event_name": f"Summit {i}",
                "organization": "Acme",
                "contact_name": "Li Na",
                "contact_email": "li.na@example.com",
                "format": "keynote",
                "is_virtual": False,
                "city": "Shanghai",
                "country": "CN",
                "timezone": zone,
                "starts_local": when.replace(tzinfo=None),
                "ends_local": when.replace(tzinfo=None),
                "starts_at": when,
                "ends_at": when + timedelta(hours=1),
                "audience_size": 100,
                "currency": "USD",
                "language": "en",
                "created_at": now,
                "updated_at": now,
            }
        )
        engagements.append(
            {
                "booking_id": i + 1,
                "speaker_id": speaker.id,
                "uid": f"{i}-{secrets.token_hex(8)}@b",
                "sequence": i % 3,
                "is_cancelled": False,
                "title": f"Kaiser Kuo at Summit {i}",
                "timezone": zone,
                "starts_at": when,
                "ends_at": when + timedelta(hours=1),
                "location": "Expo Centre, Shanghai, CN",
                "city": "Shanghai",
                "country": "CN",
                "is_virtual": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    db.session.execute(insert(BookingRequest), bookings)
    db.session.execute(insert(Engagement), engagements)
    db.session.commit()
    return speaker.slug, speaker.feed_token


def from_scratch() -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    for engagement in db.session.scalars(
        select(Engagement).order_by(Engagement.starts_at, Engagement.id)
    ):
        calendar.add_component(engagement_event(engagement))
    calendar.add_missing_timezones()
    ics: bytes = calendar.to_ical()
    return ics


def events_of(ics: bytes) -> dict[str, tuple[str, ...]]:
    return {
        str(e["UID"]): tuple(
            str(e.decoded(k)) if k in ("DTSTART", "DTEND", "SEQUENCE") else str(e[k])
            for k in ("DTSTART", "DTEND", "SUMMARY", "SEQUENCE", "LOCATION", "STATUS")
        )
        for e in Calendar.from_ical(ics).walk("VEVENT")
    }


def timed(action: object, repeat: int = 1) -> tuple[float, object]:
    durations, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()  # type: ignore[operator]
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), result


def write_results(rows: Sequence[Row]) -> str:
    """Append the results; return the section's heading."""
    return append_section(
        f"Feed benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (`python -m bench.feeds`)",
        [
            f"machine: {platform.processor() or platform.machine()}, Python "
            f"{platform.python_version()}; SQLite, Flask test client"
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="measure this many times; medians")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="write the summary rows to this file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.events < 2:
        parser.error("--runs must be at least 1 and --events at least 2")
    folder = Path(tempfile.mkdtemp(prefix="bureau-feed-bench-"))
    app = create_app(
        {
            "BUREAU_ENV": "testing",
            "BUREAU_INSTANCE_PATH": str(folder),
            "BUREAU_DATABASE_URL": f"sqlite:///{folder / 'feed.db'}",
        }
    )
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        slug, token = populate(args.events)
        url = f"/calendar/speakers/{slug}.ics?token={token}"
        client = app.test_client()
        cold_s, _ = timed(lambda: client.get(url))
        scratch, warm_after_change, repeats = [], [], []
        for run in range(args.runs):  # each run: from scratch, one change, served, repeated
            scratch.append(timed(from_scratch)[0])
            db.session.execute(
                update(Engagement).where(Engagement.id == run + 1).values(title=f"Moved {run}")
            )
            db.session.commit()
            warm_s, warm = timed(lambda: client.get(url))
            warm_after_change.append(warm_s)
            etag = warm.headers["ETag"]  # type: ignore[attr-defined]
            conditional = {"If-None-Match": etag}
            repeat_s, repeat = timed(lambda h=conditional: client.get(url, headers=h), 20)
            assert repeat.status_code == 304  # type: ignore[attr-defined]
            repeats.append(repeat_s)
        scratch_s = statistics.median(scratch)
        warm_s = statistics.median(warm_after_change)
        repeat_s = statistics.median(repeats)
        fast_body: bytes = warm.data  # type: ignore[attr-defined]
        strict = IcsCalendarStream.calendar_from_ics(fast_body.decode())
        assert len(strict.events) == args.events
        fresh = from_scratch()
        same = events_of(fresh) == events_of(fast_body)
    shutil.rmtree(folder, ignore_errors=True)
    assert same, "the fast feed differs from the from-scratch one"
    ratio = warm_s / scratch_s
    rows = [
        ("events; runs (medians)", f"{args.events:,}; {args.runs}", ""),
        (
            "icalendar from scratch",
            f"{scratch_s:.2f} s ({args.events / scratch_s:,.0f} events/s)",
            "",
        ),
        ("served feed, cold (renders and keeps every event)", f"{cold_s:.2f} s", ""),
        (
            "served feed after one change",
            f"{warm_s:.3f} s ({ratio:.2f}x from scratch)",
            "≤ 0.2x" + (" (met)" if ratio <= 0.2 else " (MISSED)"),
        ),
        (
            "repeat with If-None-Match → 304 (median of 20 a run)",
            f"{repeat_s * 1000:.1f} ms",
            "< 20 ms" + (" (met)" if repeat_s < 0.02 else " (MISSED)"),
        ),
        ("fast feed parses strictly, equals from-scratch", "yes" if same else "NO", ""),
    ]
    for a, b, c in rows:
        print(f"{a:<52} {b:<40} {c}")
    heading = "" if args.no_write else write_results(rows)

    if args.json:
        events = f"{args.events:,} events"
        write_json(
            args.json,
            heading,
            [
                Summary(
                    "feeds",
                    f"served feed after one change ({events})",
                    f"{warm_s:.3f} s",
                    f"{scratch_s:.2f} s from scratch (icalendar)",
                    f"{ratio:.2f}x",
                    "≤ 0.2x",
                    ratio <= 0.2,
                ),
                Summary(
                    "feeds",
                    f"repeat answered 304 ({events})",
                    f"{repeat_s * 1000:.1f} ms",
                    "",
                    "",
                    "< 20 ms",
                    repeat_s < 0.02,
                ),
            ],
        )


if __name__ == "__main__":
    main()
