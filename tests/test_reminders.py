"""Beat's calendar duties: event reminders 7 days and 1 day before (once each), hold-expiry
warnings, and the first-response SLA in the assignee's working hours, escalated once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.calendar.models import Engagement, Hold
from bureau.calendar.reminders import (
    FIRST_RESPONSE_SLA,
    escalate_slow_first_responses,
    first_response_overdue,
    send_event_reminders,
    warn_expiring_holds,
    working_time,
    working_time_cutoff,
)
from bureau.extensions import db
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, run_job
from bureau.staff.models import Role
from tests.test_invites import confirmed_booking
from tests.workflow_helpers import staff_member, submit_and_route

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def mails(kind: str) -> list[str]:
    return sorted(
        j.recipient or "" for j in db.session.scalars(select(Job).where(Job.kind == kind))
    )


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        # Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
        (datetime(2027, 3, 26, 16, 0), datetime(2027, 3, 29, 10, 0), 2),
        # Across the spring DST change (Sunday 28 March 2027): still 8 hours on Monday.
        (datetime(2027, 3, 27, 12, 0), datetime(2027, 3, 29, 18, 0), 8),
        # Within one working day.
        (datetime(2027, 3, 30, 9, 30), datetime(2027, 3, 30, 12, 0), 2.5),
        # A weekend only.
        (datetime(2027, 3, 27, 9, 0), datetime(2027, 3, 28, 17, 0), 0),
    ],
)
def test_working_time(start: datetime, end: datetime, hours: float) -> None:
    elapsed = working_time(
        start.replace(tzinfo=AMSTERDAM), end.replace(tzinfo=AMSTERDAM), AMSTERDAM
    )
    assert elapsed == timedelta(hours=hours)


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Asia/Shanghai", "America/New_York"])
def test_overdue_is_more_than_the_slas_working_hours_counted_to_now(zone: str) -> None:
    """The bounded check (the due moment, then at most four days counted) answers as
    counting every working hour up to now would: at closing time with exactly 8 hours (not
    yet), over weekends and the spring DST change, and for requests assigned years ago."""
    local = ZoneInfo(zone)
    starts = [
        datetime(2027, 3, 22, 9, 0, tzinfo=local) + timedelta(hours=7 * i + 0.5 * (i % 3))
        for i in range(24)  # Monday 22 March onwards, every hour of the day in turn
    ]
    for start in starts:
        for step in range(0, 10 * 48):
            now = start + timedelta(minutes=30 * step + 1)
            expected = working_time(start, now, local) > FIRST_RESPONSE_SLA
            assert first_response_overdue(start, now, local) == expected, (start, now)
    stale = datetime(2024, 1, 5, 16, 0, tzinfo=local)
    assert first_response_overdue(stale, datetime(2027, 3, 27, tzinfo=local), local)
    thursday = datetime(2027, 3, 25, 9, 0, tzinfo=local)  # 8 hours by 17:00, none after
    assert not first_response_overdue(thursday, thursday.replace(hour=23), local)
    assert first_response_overdue(thursday, thursday + timedelta(days=1, minutes=1), local)


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Asia/Shanghai", "America/New_York"])
def test_the_cutoff_splits_the_overdue_from_the_rest_at_every_moment(zone: str) -> None:
    """working_time_cutoff, which the dashboard and the escalation compare assignment times
    with: assigned before it is overdue by the row-by-row rule, at it or after is not; at
    every half hour (and a minute past) of a fortnight across the spring DST change, for
    starts at every quarter hour of the week before and a microsecond either side of it."""
    local = ZoneInfo(zone)
    tick = timedelta(microseconds=1)
    for step in range(14 * 48 * 2):
        now = datetime(2027, 3, 22, 0, 0, tzinfo=local) + step * timedelta(minutes=15.5)
        cutoff = working_time_cutoff(now, FIRST_RESPONSE_SLA, local)
        assert working_time(cutoff, now, local) == FIRST_RESPONSE_SLA, now
        for start in (cutoff - tick, cutoff, cutoff + tick):
            assert first_response_overdue(start, now, local) == (start < cutoff), (now, start)
        for quarter in range(0, 7 * 96, 7):  # every 7th quarter hour: each one in turn
            start = now - quarter * timedelta(minutes=15)
            assert first_response_overdue(start, now, local) == (start < cutoff), (now, start)


def test_the_cutoff_skips_nights_and_weekends() -> None:
    """Monday 10:00 in Amsterdam: one hour on Monday, seven on Friday, so the cutoff is
    Friday 10:00; at Monday 17:00 the eight hours are Monday's own, and the weekend and
    Friday's evening add none, so it is Friday's closing time; at Wednesday 12:30, three and
    a half hours on Wednesday and four and a half on Tuesday."""

    def cutoff(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
        moment = datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM)
        return working_time_cutoff(moment, FIRST_RESPONSE_SLA, AMSTERDAM).astimezone(AMSTERDAM)

    assert cutoff(2027, 3, 29, 10, 0) == datetime(2027, 3, 26, 10, 0, tzinfo=AMSTERDAM)
    assert cutoff(2027, 3, 29, 17, 0) == datetime(2027, 3, 26, 17, 0, tzinfo=AMSTERDAM)
    assert cutoff(2027, 3, 31, 12, 30) == datetime(2027, 3, 30, 12, 30, tzinfo=AMSTERDAM)


def test_reminders_go_once_each_at_their_time(app: Flask) -> None:
    with app.app_context():
        confirmed_booking(app)
        engagement = db.session.scalars(select(Engagement)).one()
        start = engagement.starts_at
        assert send_event_reminders(db.session, now=start - timedelta(days=10)) == 0
        assert send_event_reminders(db.session, now=start - timedelta(days=6)) == 2
        assert send_event_reminders(db.session, now=start - timedelta(days=5)) == 0
        assert mails("mail.reminder_7d") == [
            "kaiser-kuo@speakers.bureau.localhost",
            "li.na@example.com",
        ]
        assert send_event_reminders(db.session, now=start - timedelta(hours=20)) == 2
        assert send_event_reminders(db.session, now=start - timedelta(hours=2)) == 0
        job = db.session.scalars(select(Job).where(Job.kind == "mail.reminder_1d")).first()
        run_job(db.session, job.id, send_notification)
        from bureau.mail.models import Notification

        notification = db.session.scalars(select(Notification)).one()
        assert notification.subject.startswith("Tomorrow: Future of Retail Summit")
        assert "Kaiser Kuo at Future of Retail Summit" in notification.raw_message


def test_hold_expiry_is_warned_once(app: Flask) -> None:
    staff_member(app, "china.desk@bureau.localhost")
    with app.app_context():
        from bureau.bookings import actions
        from bureau.bookings.workflow import Actor
        from tests.workflow_helpers import offer_terms

        booking = db.session.get(BookingRequest, submit_and_route(app).id)
        actions.record_offer(
            db.session, booking, offer_terms(), actor=Actor("staff", "Desk"), expected_version=None
        )
        hold = actions.request_availability(
            db.session,
            booking,
            actor=Actor("staff", "Desk"),
            expected_version=None,
            hold_for=timedelta(days=2),
        )
        db.session.commit()
        assert warn_expiring_holds(db.session) == 0
        later = hold.expires_at - timedelta(hours=3)
        assert warn_expiring_holds(db.session, now=later) == 1
        assert warn_expiring_holds(db.session, now=later + timedelta(hours=1)) == 0
        assert mails("mail.hold_expiring") == ["china.desk@bureau.localhost"]
        assert db.session.get(Hold, hold.id).state == "active"


def test_slow_first_response_is_escalated_once(app: Flask) -> None:
    staff_member(app, "boss@bureau.test", role=Role.ADMIN)
    with app.app_context():
        booking = db.session.get(BookingRequest, submit_and_route(app).id)
        # Assigned on a Friday at 16:00 Shanghai time (the Greater China desk's zone).
        assigned = datetime(2027, 3, 26, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        booking.assigned_at = assigned.astimezone(UTC)
        db.session.commit()
        monday_noon = datetime(2027, 3, 29, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert escalate_slow_first_responses(db.session, now=monday_noon) == 0  # 4 hours
        tuesday_noon = monday_noon + timedelta(days=1)
        assert escalate_slow_first_responses(db.session, now=tuesday_noon) == 1  # 12 hours
        assert escalate_slow_first_responses(db.session, now=tuesday_noon) == 0  # once
        assert "boss@bureau.test" in mails("mail.sla_breach")
        actions = [
            e.action
            for e in db.session.scalars(
                select(BookingEvent).where(BookingEvent.booking_id == booking.id)
            )
        ]
        assert actions.count("SLA breached") == 1
