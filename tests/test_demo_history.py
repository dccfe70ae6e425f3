"""The demo booking history (`bureau seed --history`): added once, every timeline consistent
with the workflow, and the insights page showing exactly the generator's own tally; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import importlib.util
import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from bureau.bookings.models import BookingEvent, BookingRequest, Contract, Offer
from bureau.bookings.states import FUNNEL_RANK, SLA_BREACHED, Status
from bureau.bookings.workflow import ALLOWED
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.calendar.reminders import FIRST_RESPONSE_SLA, working_time
from bureau.cli import seed_command
from bureau.demo.history import SOURCE, load_demo_history
from bureau.demo.tally import HistorySummary
from bureau.extensions import db
from bureau.insights import charts
from bureau.insights.queries import Scope, insights
from bureau.insights.views import build_charts, duration
from bureau.mail.models import Notification
from bureau.outbox import Job, is_quiet, quiet_outbox, record_job
from bureau.staff.models import Role, StaffMember
from tests.conftest import make_app, migrate_and_seed, reset_bookings
from tests.workflow_helpers import sign_in, staff_member

ADMIN = "management@bureau.localhost"
# A Wednesday afternoon: every timestamp of the history lies before it.
NOW = datetime(2026, 10, 14, 15, 30, tzinfo=UTC)
TALLIES: dict[str, HistorySummary] = {}  # the history's tally on each backend
HELD = {Status.AWAITING_SPEAKER, Status.SPEAKER_ACCEPTED, Status.CONTRACTED}


def seed(app: Flask, now: datetime = NOW) -> HistorySummary:
    with app.app_context():
        summary = load_demo_history(db.session, now)
        db.session.commit()
        return summary


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Flask, HistorySummary]:
    """An app of its own per backend, seeded with the history once for the read-only tests."""
    instance = tmp_path_factory.mktemp(f"demo-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'demo.db'}"
    else:
        url = request.getfixturevalue("postgres_database_factory")()
    app = make_app(instance, url)
    migrate_and_seed(app)
    summary = seed(app)
    with app.app_context():
        staff_member(app, ADMIN, role=Role.ADMIN)
    return app, summary


def signed_in_admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, ADMIN).status_code == 302
    return client


def restore_desks(app: Flask, before: dict[int, datetime | None]) -> None:
    with app.app_context():
        for staff_id, last in before.items():
            db.session.execute(
                update(StaffMember).where(StaffMember.id == staff_id).values(last_assigned_at=last)
            )
        db.session.commit()


def desks(app: Flask) -> dict[int, datetime | None]:
    with app.app_context():
        rows = db.session.execute(select(StaffMember.id, StaffMember.last_assigned_at))
        return {row[0]: row[1] for row in rows}


def test_seeding_twice_adds_once_and_sends_nothing(history: tuple[Flask, HistorySummary]) -> None:
    app, first = history
    assert 150 <= first.created <= 250
    with app.app_context():
        counts = [count(m) for m in (BookingRequest, BookingEvent, Offer, Contract, Engagement)]
        assert counts[0] == first.created
        # No email and no job: the history is over.
        assert count(Job) == 0
        assert count(Notification) == 0
        for booking in db.session.scalars(select(BookingRequest)):
            assert booking.source == SOURCE
            assert booking.organization.endswith("(demo)")
            assert re.fullmatch(r"[a-z]+\.[a-z]+@example\.(com|org|net)", booking.contact_email)
    # Every step of the process is there, open and closed, in plausible proportions.
    statuses = first.statuses
    for status in ("assigned", "shortlisted", "confirmed", "completed", "declined", "withdrawn"):
        assert statuses.get(status, 0) >= 1, status
    assert statuses.get("expired", 0) + statuses.get("cancelled", 0) >= 1
    assert statuses["completed"] + statuses["confirmed"] < first.created / 2
    assert 1 <= first.breaches < first.created / 8
    assert len(first.revenue) >= 2  # more than one currency

    again = seed(app, NOW + timedelta(days=3))
    assert again.created == 0
    assert "no requests added" in str(again)
    with app.app_context():
        assert [
            count(m) for m in (BookingRequest, BookingEvent, Offer, Contract, Engagement)
        ] == counts


def test_every_completed_booking_was_completed_after_its_event(
    history: tuple[Flask, HistorySummary],
) -> None:
    """What transition()'s guard asks of real bookings (issue 16.2), the history obeys too."""
    app, _ = history
    with app.app_context():
        rows = db.session.execute(
            select(BookingEvent.at, Engagement.ends_at)
            .join(Engagement, Engagement.booking_id == BookingEvent.booking_id)
            .where(BookingEvent.to_status == Status.COMPLETED)
        ).all()
    assert rows
    early = [(at, ends_at) for at, ends_at in rows if at < ends_at]
    assert not early


def test_the_same_seed_and_moment_give_the_same_history_on_both_backends(
    history: tuple[Flask, HistorySummary],
) -> None:
    """The backends' histories are made one after the other (the fixture is per module): the
    second run of this test compares them."""
    TALLIES[history[0].config["SQLALCHEMY_DATABASE_URI"].split(":")[0]] = history[1]
    assert all(tally == history[1] for tally in TALLIES.values())


def test_seed_command_adds_the_history_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    before = desks(app)
    try:
        first = runner.invoke(seed_command, ["--history"])
        assert first.exit_code == 0, first.output
        added = re.search(r"Demo history: (\d+) requests since", first.output)
        assert added, first.output
        again = runner.invoke(seed_command, ["--history"])
        assert again.exit_code == 0, again.output
        assert "Demo history: no requests added" in again.output
        with app.app_context():
            assert count(BookingRequest) == int(added.group(1))
            assert count(Job) == 0
        assert "Demo history" not in runner.invoke(seed_command, []).output
    finally:
        reset_bookings(app)
        restore_desks(app, before)


def test_every_timeline_is_ordered_and_follows_the_workflow(
    history: tuple[Flask, HistorySummary],
) -> None:
    app, tally = history
    with app.app_context():
        staff = {s.id: s for s in db.session.scalars(select(StaffMember))}
        bookings = db.session.scalars(select(BookingRequest)).all()
        assert len(bookings) == tally.created
        for booking in bookings:
            check_booking(booking, staff)


def timeline_facts(booking: BookingRequest) -> tuple[Any, ...]:
    """A request's facts worked out from its timeline alone, by their definitions
    (docs/topics/insights.md), as the insights computed them before the requests kept them."""
    events = booking.events
    stages = [FUNNEL_RANK[s] for s in (booking.status, *(e.to_status for e in events)) if s]
    responses = [e.at for e in events if e.actor_kind == "staff" and e.at >= booking.created_at]
    confirmations = [e.at for e in events if e.to_status == Status.CONFIRMED]
    breached = any(e.action == SLA_BREACHED for e in events)
    return max(stages), min(responses, default=None), min(confirmations, default=None), breached


def kept_facts() -> dict[int, tuple[Any, ...]]:
    rows = db.session.execute(
        select(
            BookingRequest.id,
            BookingRequest.funnel_stage,
            BookingRequest.first_response_at,
            BookingRequest.first_confirmed_at,
            BookingRequest.sla_breached,
        )
    )
    return {booking_id: tuple(facts) for booking_id, *facts in rows}


def test_each_request_keeps_its_timelines_facts_and_the_migration_fills_the_same(
    history: tuple[Flask, HistorySummary],
) -> None:
    """What note() kept while the history was made equals what the timelines say, and
    migration 0026's backfill, from the timelines alone, fills the very same."""
    app, _ = history
    path = Path(__file__).parents[1] / "migrations" / "versions" / "0026_request_facts.py"
    spec = importlib.util.spec_from_file_location("request_facts_migration", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with app.app_context():
        bookings = db.session.scalars(
            select(BookingRequest).options(selectinload(BookingRequest.events))
        ).all()
        expected = {b.id: timeline_facts(b) for b in bookings}
        db.session.rollback()
        # The history has every fact to keep, so the comparison says something.
        assert {f[0] for f in expected.values()} == {0, 1, 2, 3, 4}
        assert all(any(f[i] for f in expected.values()) for i in (1, 2, 3))
        assert kept_facts() == expected

        db.session.execute(
            update(BookingRequest).values(
                funnel_stage=0, first_response_at=None, first_confirmed_at=None, sla_breached=False
            )
        )
        db.session.execute(sa.text(migration.BACKFILL))
        db.session.commit()
        assert kept_facts() == expected


def check_booking(booking: BookingRequest, staff: dict[int, StaffMember]) -> None:
    ref = booking.reference
    events = sorted(booking.events, key=lambda e: (e.at, e.id))
    first = events[0]
    assert (first.action, first.actor_kind, first.to_status) == ("submitted", "organizer", "new")
    assert first.at == booking.created_at, ref
    for earlier, later in itertools.pairwise(events):
        assert earlier.at < later.at, ref
    assert events[-1].at < NOW, ref

    # Each state change is one the transitions table allows, from the state it was in.
    current = Status.NEW
    visited = {current}
    for event in events[1:]:
        if event.to_status is None:
            continue
        assert event.from_status == current, (ref, event.action)
        assert Status(event.to_status) in ALLOWED[current], (ref, current, event.to_status)
        current = Status(event.to_status)
        visited.add(current)
    assert booking.status == current, ref
    touched = [e.at for e in events if e.action != "SLA breached"]
    assert booking.updated_at == touched[-1], ref

    # Routed a moment after submission; the assignee does the staff's work.
    routed = events[1]
    assert (routed.action, routed.actor_kind, routed.to_status) == ("routed", "system", "assigned")
    assert booking.assigned_at == routed.at, ref
    assert booking.assigned_staff_id is not None, ref
    assert routed.details["staff_id"] == booking.assigned_staff_id
    member = staff[booking.assigned_staff_id]
    acts = [e for e in events if e.actor_kind == "staff"]
    assert acts, f"{ref}: no first response (beat would escalate it now)"
    assert {e.actor_id for e in acts} == {member.id}, ref

    # An SLA breach exactly when the first response came after 8 working hours, written
    # while the request waited as "assigned", before that response.
    waited = working_time(booking.assigned_at, acts[0].at, ZoneInfo(member.timezone))
    breaches = [e for e in events if e.action == "SLA breached"]
    assert len(breaches) == (1 if waited > FIRST_RESPONSE_SLA else 0), (ref, waited)
    for breach in breaches:
        assert breach.actor_kind == "system", ref
        assert breach.at < acts[0].at, ref
        assert [e for e in events if e.to_status and e.at < breach.at][-1].to_status == "assigned"
        elapsed = working_time(booking.assigned_at, breach.at, ZoneInfo(member.timezone))
        assert elapsed > FIRST_RESPONSE_SLA, ref
        assert breach.details["reason"] == f"no first response after {elapsed} working hours"

    # The rows each step leaves behind.
    offer_times = [e.at for e in events if e.action == "offer"]
    assert [o.created_at for o in booking.offers] == offer_times, ref
    assert (booking.contract is not None) == (Status.CONTRACTED in visited), ref
    if booking.contract is not None:
        assert booking.contract.created_at in [e.at for e in events if e.action == "contract"]
        assert booking.contract.fee == booking.offers[-1].fee
    holds = db.session.scalars(select(Hold).where(Hold.booking_id == booking.id)).all()
    assert len(holds) == len([e for e in events if e.action == "availability check"]), ref
    active = [h for h in holds if h.state == HoldState.ACTIVE]
    if booking.status in HELD:
        assert len(active) == 1, ref
        assert active[0].expires_at > NOW, ref
    else:
        assert not active, ref
    engagement = db.session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    assert (engagement is not None) == (Status.CONFIRMED in visited), ref
    if engagement is not None:
        confirmed = next(e.at for e in events if e.to_status == "confirmed")
        assert engagement.created_at == confirmed < engagement.starts_at, ref
        assert engagement.is_cancelled == (booking.status == Status.CANCELLED), ref
        assert engagement.sequence == (1 if engagement.is_cancelled else 0), ref
        assert [h.state for h in holds].count(HoldState.CONFIRMED) == 1, ref
    if booking.status == Status.COMPLETED:
        assert engagement is not None, ref
        assert engagement.ends_at < events[-1].at, ref
    if booking.status in (Status.DECLINED, Status.WITHDRAWN, Status.CANCELLED):
        assert booking.closed_reason, ref
        assert booking.closed_reason in (events[-1].public_message or ""), ref


def test_the_insights_page_shows_the_generators_tally(
    history: tuple[Flask, HistorySummary],
) -> None:
    app, tally = history
    assert tally.first_day is not None
    scope = Scope(tally.first_day, NOW.date())
    with app.app_context():
        found = insights(db.session, scope)
    assert {week: n for week, n in found.weekly.items() if n} == tally.weekly
    assert found.flow.funnel == tally.funnel
    assert found.flow.breaches == tally.breaches
    assert (found.flow.responded, found.flow.confirmed) == (tally.responded, tally.confirmed)
    assert found.flow.median_response == tally.median_response
    assert found.flow.median_confirmation == tally.median_confirmation
    assert [(s.name, s.requested, s.booked) for s in found.speakers] == tally.speakers
    revenue = {
        currency: {
            month: (m.contracts, m.revenue, m.commission)
            for month, m in months.items()
            if m.contracts
        }
        for currency, months in found.revenue.items()
    }
    assert revenue == {
        currency: {month: (m.contracts, m.revenue, m.commission) for month, m in months.items()}
        for currency, months in tally.revenue.items()
    }

    client = signed_in_admin(app)
    response = client.get(f"/staff/insights?from={tally.first_day}&to={NOW.date()}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'data-figure="requests">{tally.created}<' in page
    assert f'data-figure="sla-breaches">{tally.breaches}<' in page
    assert f'data-figure="median-response">{duration(tally.median_response)}<' in page
    name, requests = tally.funnel[-1]
    share = f"{requests / tally.created:.0%}"
    assert f"<title>{name}: {requests} ({share})</title>" in page
    _, months = sorted(tally.revenue.items())[0]
    month, money = sorted(months.items())[-1]
    row = (
        f'<th scope="row">{month}</th><td>{money.contracts}</td><td>{money.revenue:,}</td>'
        f"<td>{money.commission:,.2f}</td>"
    )
    assert row in page
    assert money.commission == (money.commission * 100).to_integral_value() / Decimal(100)


def test_the_operations_page_and_dashboard_render_with_the_demo_data(
    history: tuple[Flask, HistorySummary],
) -> None:
    client = signed_in_admin(history[0])
    ops = client.get("/staff/ops")
    assert ops.status_code == 200
    page = ops.get_data(as_text=True)
    for state in ("pending", "running", "done", "failed"):
        assert f'data-state="{state}">0<' in page, state  # no job invented
    assert client.get("/staff/").status_code == 200
    assert client.get("/staff/?queue=closed").status_code == 200


def test_weekly_axis_labels_do_not_overlap_on_26_weeks(
    history: tuple[Flask, HistorySummary],
) -> None:
    app, tally = history
    assert tally.first_day is not None
    with app.app_context():
        found = insights(db.session, Scope(tally.first_day, NOW.date()))
    weekly = build_charts(found)["weekly"]
    base = charts.PLOT_TOP + charts.PLOT_HEIGHT + 16
    labels = [t for t in weekly.texts if t.y == base]
    assert 6 <= len(labels) < len(found.weekly)  # some weeks unlabelled, most of the axis
    for text in labels:
        assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}", text.text), text.text  # "7 Sep"
    for left, right in itertools.pairwise(labels):
        room = (len(left.text) + len(right.text)) / 2 * charts.CHAR_WIDTH
        assert right.x - left.x >= room, (left, right)
    # The table and the bars' titles keep every week with its year.
    assert len(weekly.rows) == len(found.weekly)
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", row[0]) for row in weekly.rows)


def test_the_quiet_outbox_records_nothing_and_ends_with_its_block(app: Flask) -> None:
    with app.app_context():
        session = db.session
        with quiet_outbox(session):
            assert is_quiet(session)
            assert record_job(session, "bureau.mail.send", "mail.quiet", booking_id=None) is None
        assert not is_quiet(session)
        assert count(Job) == 0
        session.rollback()
