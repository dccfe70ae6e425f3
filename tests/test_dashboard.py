"""The staff dashboard: queues and counts, filters, search, sorting, paging in constant
queries, CSV export; the mail log and resending a failed email."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, note
from bureau.calendar.reminders import (
    SURELY_OVERDUE,
    escalate_slow_first_responses,
    first_response_breaches,
    first_response_overdue,
)
from bureau.db import utcnow
from bureau.extensions import db
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, JobState
from bureau.staff.models import Role
from tests.conftest import NEXT_YEAR
from tests.test_invites import confirmed_booking
from tests.workflow_helpers import csrf_from, sign_in, staff_member, submit_and_route

ADMIN = "boss@bureau.test"
SHANGHAI = ZoneInfo("Asia/Shanghai")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TERMS = (
    "booked_speaker",
    "fee",
    "currency",
    "commission_pct",
    "commission",
    "deposit",
    "deposit_due",
    "event_date",
    "event_timezone",
)


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    staff_member(app, ADMIN, name="Boss", role=Role.ADMIN)
    client = app.test_client()
    assert sign_in(client, ADMIN).status_code == 302
    return client


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def dutch_request(app: Flask) -> Any:
    return submit_and_route(
        app,
        timezone="Europe/Amsterdam",
        country="NL",
        city="Utrecht",
        speakers=["rupert-hoogewerf"],
        organization="Dutch Events",
    )


def test_queries_per_page_do_not_grow_with_rows(app: Flask, admin: FlaskClient) -> None:
    submit_and_route(app)
    admin.get("/staff/")  # warm up
    with counting_queries(app) as few:
        assert admin.get("/staff/?queue=open").status_code == 200
    for _ in range(12):
        submit_and_route(app, speakers=["winston-ma", "kaiser-kuo", "ashley-dudarenok"])
    with counting_queries(app) as many:
        page = admin.get("/staff/?queue=open").get_data(as_text=True)
    assert page.count("/staff/requests/") >= 13
    assert len(many) == len(few), many


def test_queues_count_and_filter(app: Flask, admin: FlaskClient) -> None:
    china = submit_and_route(app)  # CN → Greater China desk
    europe = dutch_request(app)
    with app.app_context():
        db.session.execute(
            update(BookingRequest).where(BookingRequest.id == europe.id).values(status="declined")
        )
        db.session.execute(
            update(BookingRequest)
            .where(BookingRequest.id == china.id)
            .values(
                created_at=utcnow() - timedelta(days=7), assigned_at=utcnow() - timedelta(days=7)
            )
        )
        db.session.commit()
    page = admin.get("/staff/").get_data(as_text=True)
    assert 'data-queue-count="open">1<' in page
    assert 'data-queue-count="closed">1<' in page
    assert 'data-queue-count="overdue">1<' in page  # assigned a week ago, not answered
    assert 'data-queue-count="soon">0<' in page  # its event is months away
    assert 'data-queue-count="mine">0<' in page
    closed = admin.get("/staff/?queue=closed").get_data(as_text=True)
    assert europe.reference in closed
    assert china.reference not in closed
    search = admin.get("/staff/?queue=closed&q=dutch").get_data(as_text=True)
    assert europe.reference in search
    by_country = admin.get("/staff/?queue=open&country=NL").get_data(as_text=True)
    assert china.reference not in by_country
    by_speaker = admin.get("/staff/?queue=open&speaker=winston-ma").get_data(as_text=True)
    assert china.reference in by_speaker
    bad_date = admin.get("/staff/?starts_from=soon")
    assert bad_date.status_code == 422
    assert "starts from: “soon” is not a date; use YYYY-MM-DD" in bad_date.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("starts_until=9999-12-31", "starts until: choose a date between 1900 and 2999."),
        ("starts_from=0001-01-01", "starts from: choose a date between 1900 and 2999."),
        ("staff=" + "9" * 25, "staff: “9999999999999999999999999” is not a staff member."),
        ("staff=%C2%B2", "staff: “²” is not a staff member."),
    ],
)
def test_out_of_range_filters_get_a_message_not_an_error(
    admin: FlaskClient, query: str, message: str
) -> None:
    page = admin.get(f"/staff/?{query}")
    assert page.status_code == 422
    assert message in page.get_data(as_text=True)
    export = admin.get(f"/staff/requests.csv?{query}")  # not every request instead
    assert export.status_code == 422
    assert export.mimetype == "text/plain"
    assert message in export.get_data(as_text=True)


def test_search_finds_percent_and_underscore_as_written(app: Flask, admin: FlaskClient) -> None:
    percent = submit_and_route(app, organization="100% Events")
    plain = submit_and_route(app, organization="1000 Events")
    underscore = submit_and_route(app, event_name="Retail_Summit")
    spaced = submit_and_route(app, event_name="Retail-Summit")
    by_percent = admin.get("/staff/?q=100%25").get_data(as_text=True)
    assert percent.reference in by_percent
    assert plain.reference not in by_percent
    by_underscore = admin.get("/staff/?q=retail_").get_data(as_text=True)
    assert underscore.reference in by_underscore
    assert spaced.reference not in by_underscore


def test_csv_export_follows_the_filters_and_defuses_formulas(
    app: Flask, admin: FlaskClient
) -> None:
    submit_and_route(app, organization='=HYPERLINK("http://evil")')
    submit_and_route(app, organization="Plain Events")
    response = admin.get("/staff/requests.csv?queue=open&q=plain")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["reference", "status", "received"]
    assert "booked_speaker" in rows[0]
    assert [row[4] for row in rows[1:]] == ["Plain Events"]
    everything = admin.get("/staff/requests.csv?queue=open").get_data(as_text=True)
    assert "'=HYPERLINK" in everything


def test_mail_log_shows_failures_and_resends_once(
    app: Flask, admin: FlaskClient, monkeypatch: Any
) -> None:
    booking = submit_and_route(app)
    with app.app_context():
        job = db.session.scalars(
            select(Job).where(Job.booking_id == booking.id, Job.kind == "mail.acknowledgement")
        ).one()
        from bureau.outbox import run_job

        def refuse(*args: Any, **kwargs: Any) -> str:
            from bureau.outbox import PermanentError

            raise PermanentError("550 5.1.1 No such user")

        monkeypatch.setattr("bureau.mail.tasks.deliver", refuse)
        run_job(db.session, job.id, send_notification)
        monkeypatch.undo()
        job_id = job.id
    log = admin.get("/staff/mail?state=failed").get_data(as_text=True)
    assert "550 5.1.1 No such user" in log
    assert "Resend" in log
    sent: list[int] = []

    def fake_enqueue(task: str, job_id: int, countdown: float | None = None) -> bool:
        sent.append(job_id)
        return True

    # Resending goes through the outbox: the job is sent to the broker after the commit.
    monkeypatch.setattr("bureau.outbox.dispatch.enqueue", fake_enqueue)
    notification_id = int(log.split("/staff/mail/")[1].split("/")[0].split('"')[0])
    response = admin.post(
        f"/staff/mail/{notification_id}/resend", data={"csrf_token": csrf_from(log)}
    )
    assert response.status_code == 303
    assert sent == [job_id]
    with app.app_context():
        assert db.session.get(Job, job_id).state == JobState.PENDING
    again = admin.post(f"/staff/mail/{notification_id}/resend", data={"csrf_token": csrf_from(log)})
    assert again.status_code == 303
    assert sent == [job_id]  # not failed any more: nothing to resend
    page = admin.get(f"/staff/requests/{booking.id}").get_data(as_text=True)
    assert "Email resent" in page


def test_request_totals_match_the_queue_counts_and_the_filters(
    app: Flask, admin: FlaskClient
) -> None:
    """A whole queue's total is its count (no second count query); a filtered list counts
    what it shows."""
    for _ in range(2):
        submit_and_route(app)
    dutch = dutch_request(app)
    with app.app_context():
        db.session.execute(
            update(BookingRequest).where(BookingRequest.id == dutch.id).values(status="withdrawn")
        )
        db.session.commit()
    with counting_queries(app) as whole_queue:
        page = admin.get("/staff/?queue=open").get_data(as_text=True)
    assert 'data-queue-count="open">2<' in page
    assert ">2 requests</p>" in page
    page_counts = [s for s in whole_queue if "count(*) AS count_1 \nFROM (SELECT" in s]
    assert [s for s in page_counts if "closed_requests" not in s] == []  # the badge's only
    closed = admin.get("/staff/?queue=closed").get_data(as_text=True)
    assert 'data-queue-count="closed">1<' in closed
    assert ">1 request</p>" in closed
    narrowed = admin.get("/staff/?queue=open&country=NL").get_data(as_text=True)
    assert ">0 requests</p>" in narrowed
    assert 'data-queue-count="open">2<' in narrowed


def test_the_closed_count_stops_past_its_cap_and_filters_still_count_exactly(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        submit_and_route(app)
    with app.app_context():
        db.session.execute(update(BookingRequest).values(status="withdrawn"))
        db.session.commit()
    monkeypatch.setattr("bureau.staff.dashboard.CLOSED_COUNT_CAP", 2)
    monkeypatch.setattr("bureau.staff.queries.CLOSED_COUNT_CAP", 2)
    elsewhere = admin.get("/staff/?queue=open").get_data(as_text=True)
    assert 'data-queue-count="closed">2+<' in elsewhere
    closed = admin.get("/staff/?queue=closed").get_data(as_text=True)
    assert 'data-queue-count="closed">2+<' in closed
    assert "2+ requests: the newest are listed, the filters find older ones" in closed
    assert closed.count('href="/staff/requests/') == 3  # the page lists them all the same
    filtered = admin.get("/staff/?queue=closed&country=CN").get_data(as_text=True)
    assert ">3 requests</p>" in filtered


def assigned_on(app: Flask, booking_id: int, local: datetime) -> None:
    with app.app_context():
        db.session.execute(
            update(BookingRequest)
            .where(BookingRequest.id == booking_id)
            .values(assigned_at=local.astimezone(UTC), created_at=local.astimezone(UTC))
        )
        db.session.commit()


def test_overdue_is_the_escalations_rule_in_each_assignees_working_hours(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assigned Friday 16:00 in the agent's own zone: not overdue over the weekend, overdue
    from the moment the escalation fires (one working hour Friday, seven on Monday), in the
    badge and the list alike; the Shanghai desk's Monday comes before the Amsterdam desk's."""
    china = submit_and_route(app)  # Greater China desk, Asia/Shanghai
    europe = dutch_request(app)  # Europe desk, Europe/Amsterdam
    assigned_on(app, china.id, datetime(2027, 3, 26, 16, 0, tzinfo=SHANGHAI))
    assigned_on(app, europe.id, datetime(2027, 3, 26, 16, 0, tzinfo=AMSTERDAM))

    def at(moment: datetime) -> tuple[int, set[str]]:
        """(escalated now, what the Overdue queue shows then)."""
        monkeypatch.setattr("bureau.staff.queries.clock", lambda: moment)
        with app.app_context():
            escalated = escalate_slow_first_responses(db.session, now=moment)
        page = admin.get("/staff/?queue=overdue").get_data(as_text=True)
        shown = {b.reference for b in (china, europe) if b.reference in page}
        badge = f'data-queue-count="overdue">{len(shown)}<'
        assert badge in page, (moment, shown)
        return escalated, shown

    assert "no first action after 8 working hours of the assignee" in admin.get(
        "/staff/?queue=overdue"
    ).get_data(as_text=True)
    saturday = datetime(2027, 3, 27, 12, 0, tzinfo=SHANGHAI)
    assert at(saturday) == (0, set())
    china_due = datetime(2027, 3, 29, 16, 0, tzinfo=SHANGHAI)  # 8 working hours, not more
    assert at(china_due) == (0, set())
    assert at(china_due + timedelta(minutes=1)) == (1, {china.reference})
    europe_due = datetime(2027, 3, 29, 16, 0, tzinfo=AMSTERDAM)
    assert at(europe_due) == (0, {china.reference})
    assert at(europe_due + timedelta(minutes=1)) == (1, {china.reference, europe.reference})
    # A first action by the assignee ends it, for the queue as for the escalation (dated by
    # this test's clock: the requests were moved to 2027).
    with app.app_context():
        booking = db.session.get(BookingRequest, china.id)
        acted = europe_due + timedelta(minutes=30)
        note(db.session, booking, actor=Actor("staff", "Desk"), action="note", now=acted)
        db.session.commit()
        assert set(first_response_breaches(db.session, europe_due + timedelta(hours=1))) == {
            europe.id
        }
    assert at(europe_due + timedelta(hours=1)) == (0, {europe.reference})
    # Past SURELY_OVERDUE the queue asks SQL alone (no working hours counted): the same answer.
    assert at(europe_due + SURELY_OVERDUE + timedelta(days=1)) == (0, {europe.reference})


def test_the_overdue_badge_counts_old_and_recent_breaches_together(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The badge counts the surely overdue in SQL and adds the recent breaches found in
    working hours: one of each at once is two, as the list and the escalation's rule say."""
    old = submit_and_route(app)
    recent = dutch_request(app)
    assigned_on(app, old.id, datetime(2027, 3, 1, 10, 0, tzinfo=SHANGHAI))  # weeks before
    assigned_on(app, recent.id, datetime(2027, 3, 26, 16, 0, tzinfo=AMSTERDAM))  # due Monday
    moment = datetime(2027, 3, 29, 17, 0, tzinfo=AMSTERDAM)
    monkeypatch.setattr("bureau.staff.queries.clock", lambda: moment)
    with app.app_context():
        assert first_response_breaches(db.session, moment) == {old.id, recent.id}
    page = admin.get("/staff/?queue=overdue").get_data(as_text=True)
    assert old.reference in page
    assert recent.reference in page
    assert 'data-queue-count="overdue">2<' in page


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Amsterdam", "America/New_York"])
def test_anything_assigned_surely_overdue_ago_is_overdue_by_the_exact_rule(zone: str) -> None:
    """The dashboard's shortcut (reminders.surely_overdue) never disagrees with the rule:
    every 113 minutes (so every time of day and weekday) of two years, clock changes
    included, in zones either side of UTC."""
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(2 * 365 * 24 * 60 // 113):
        assigned = start + timedelta(minutes=113 * step)
        assert first_response_overdue(assigned, assigned + SURELY_OVERDUE, tz), assigned


def test_event_soon_is_its_own_queue(app: Flask, admin: FlaskClient) -> None:
    soon = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT09:00")
    close = submit_and_route(app, starts_at=soon, ends_at=soon[:11] + "10:00")
    later = submit_and_route(app)
    page = admin.get("/staff/?queue=soon").get_data(as_text=True)
    assert 'data-queue-count="soon">1<' in page
    assert "the event is less than 14 days away or already past" in page
    assert close.reference in page
    assert later.reference not in page
    assert 'data-queue-count="overdue">0<' in page  # just routed: not late for anyone


def test_agents_land_on_their_own_queue_and_admins_on_all_open(
    app: Flask, admin: FlaskClient
) -> None:
    staff_member(app, "agent@bureau.test", name="Agent")
    agent = app.test_client()
    signed_in = sign_in(agent, "agent@bureau.test")
    assert signed_in.headers["Location"] == "/staff/"
    landing = agent.get("/staff/").get_data(as_text=True)
    assert 'aria-current="page" href="/staff/?queue=mine' in landing
    unknown = agent.get("/staff/?queue=everything").get_data(as_text=True)
    assert 'aria-current="page" href="/staff/?queue=mine' in unknown
    mine_only = agent.get("/staff/requests.csv").get_data(as_text=True)
    assert mine_only.count("\n") == 1  # the header: nothing is assigned to this agent
    submit_and_route(app)
    overview = admin.get("/staff/").get_data(as_text=True)
    assert 'aria-current="page" href="/staff/?queue=open' in overview
    assert admin.get("/staff/requests.csv").get_data(as_text=True).count("\n") == 2


def csv_rows(client: FlaskClient, query: str) -> list[dict[str, str]]:
    text = client.get(f"/staff/requests.csv?{query}").get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_has_the_terms_once_known_in_constant_queries(
    app: Flask, admin: FlaskClient
) -> None:
    with app.app_context():
        booked_id = confirmed_booking(app)
        booked = db.session.get(BookingRequest, booked_id).reference
    waiting = submit_and_route(app, organization="-Minus Events").reference
    rows = {row["reference"]: row for row in csv_rows(admin, "queue=open")}
    terms = {k: v for k, v in rows[booked].items() if k in TERMS}
    assert terms == {
        "booked_speaker": "Kaiser Kuo",
        "fee": "12000",
        "currency": "USD",
        "commission_pct": "20.00",
        "commission": "2400",
        "deposit": "6000",
        "deposit_due": f"{NEXT_YEAR}-01-10",
        "event_date": f"{NEXT_YEAR}-03-28 09:00",
        "event_timezone": "Europe/Amsterdam",
    }
    assert {k: v for k, v in rows[waiting].items() if k in TERMS} == dict.fromkeys(TERMS, "")
    assert rows[waiting]["organization"] == "'-Minus Events"
    with counting_queries(app) as two:
        assert len(csv_rows(admin, "queue=open")) == 2
    for day in (10, 12, 14):  # each on its own day: the speaker is booked on the others
        with app.app_context():
            confirmed_booking(app, start=f"04-{day}T09:00")
    with counting_queries(app) as five:
        assert len(csv_rows(admin, "queue=open")) == 5
    assert len(five) == len(two), five
