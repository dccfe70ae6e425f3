"""Organizers' personal data: export, erasure (proved by scanning every table), retention."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, select, update

from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest, OrganizerFeedback
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor, event_end, note
from bureau.calendar.feeds import new_feed_token
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.cli import cli
from bureau.db import Base, utcnow
from bureau.extensions import db
from bureau.mail.models import ERASED_EMAIL, Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, JobState, retry_failed, run_job
from bureau.privacy.retention import apply_retention
from bureau.privacy.tasks import apply_retention_task
from bureau.staff.models import Role
from tests.workflow_helpers import (
    OVERRIDE,
    PASSWORD,
    csrf_from,
    offer_terms,
    sign_in,
    staff_member,
    submit_and_route,
)

ADMIN = "management@bureau.localhost"
AGENT = "china.desk@bureau.localhost"
STAFF = Actor("staff", "Greater China desk")

# The organizer whose data is erased; the address is given in mixed case on purpose.
NAME = "Ottilie Vanderbrook"
EMAIL = "Ottilie.Vanderbrook@Example.COM"
ADDRESS = EMAIL.lower()
PHONE = "+49 30 5555 0199"
ORGANIZATION = "Vanderbrook Events GmbH"
WRITTEN = {
    "message": "Ottilie's keynote wish: retail and AI",
    "audience": "Vanderbrook's key accounts",
    "venue": "Vanderbrook House",
    "logistics": "Pick-up from PVG for the speaker, arranged by Ottilie",
    "note": "Ottilie prefers calls after 4pm",
    "reason": "Budget cut at the Vanderbrook board",
    "feedback": "Splendid talk, said Ottilie",
    "travel": "Business class, Vanderbrook pays",
    "staff_note": "Phoned +49 30 5555 0199, spoke to Ottilie",
    "speaker": "Happy to speak for the Vanderbrook crowd",
    "comments": "Ottilie's team loved it; Vanderbrook will book again",
}
PERSONAL = [NAME, ADDRESS, PHONE, ORGANIZATION, *WRITTEN.values()]

OTHER = {
    "contact_name": "Wang Wei Otherperson",
    "contact_email": "wang.wei@example.org",
    "organization": "Other Org Ltd",
    "message": "Another organizer's wish",
}


def mine(**changes: Any) -> dict[str, Any]:
    return {
        "contact_name": NAME,
        "contact_email": EMAIL,
        "contact_phone": PHONE,
        "organization": ORGANIZATION,
        "event_name": f"{ORGANIZATION} Retail Summit",
        "message": WRITTEN["message"],
        "audience": WRITTEN["audience"],
        **changes,
    }


def send_pending_mail() -> None:
    for job_id in db.session.scalars(
        select(Job.id).where(Job.task == MAIL_TASK, Job.state == JobState.PENDING).order_by(Job.id)
    ).all():
        run_job(db.session, job_id, send_notification)


def completed_booking(app: Flask) -> int:
    """Every step of the process, each leaving personal text somewhere."""
    booking_id = submit_and_route(app, **mine()).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        organizer = Actor("organizer", booking.contact_name)
        actions.shortlist(
            db.session,
            booking,
            [
                actions.Candidate("kaiser-kuo", 12000, "Beijing", WRITTEN["note"]),
                actions.Candidate("winston-ma", 15000, "New York"),
                actions.Candidate("ashley-dudarenok", 9000, "Hong Kong"),
            ],
            actor=STAFF,
            expected_version=None,
        )
        terms = offer_terms(venue=WRITTEN["venue"], logistics=WRITTEN["logistics"])
        actions.record_offer(db.session, booking, terms, actor=organizer, expected_version=None)
        actions.request_availability(db.session, booking, actor=STAFF, expected_version=None)
        db.session.commit()
        actions.speaker_answer(
            db.session, booking, booking.offer, accept=True, reason=WRITTEN["speaker"]
        )
        actions.record_contract(
            db.session,
            booking,
            actions.ContractTerms(
                12500, "USD", Decimal("20"), 5000, utcnow().date(), WRITTEN["travel"]
            ),
            actor=STAFF,
            expected_version=None,
        )
        actions.confirm(db.session, booking, actor=STAFF, expected_version=None, **OVERRIDE)
        note(
            db.session, booking, actor=STAFF, action="note", details={"text": WRITTEN["staff_note"]}
        )
        actions.complete(
            db.session,
            booking,
            actor=STAFF,
            expected_version=None,
            feedback=WRITTEN["feedback"],
            now=event_end(db.session, booking)[0] + timedelta(hours=1),  # the day after
        )
        db.session.commit()
        actions.leave_feedback(db.session, booking, 4, WRITTEN["comments"])
        db.session.commit()
        send_pending_mail()
    return booking_id


def withdrawn_booking(app: Flask, **changes: Any) -> int:
    booking_id = submit_and_route(app, **changes).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        actions.close(
            db.session,
            booking,
            Status.WITHDRAWN,
            reason=WRITTEN["reason"] if "contact_phone" in changes else "Other plans",
            actor=Actor("organizer", booking.contact_name),
            expected_version=None,
        )
        db.session.commit()
        send_pending_mail()
    return booking_id


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    # Earlier tests' .eml files outlive their rows; start from an empty mail folder.
    for leftover in (app.config["BUREAU_SETTINGS"].instance_path / "mail").glob("*.eml"):
        leftover.unlink()
    staff_member(app, ADMIN, role=Role.ADMIN)
    staff_member(app, AGENT)
    completed = completed_booking(app)
    withdrawn = withdrawn_booking(app, **mine(event_name="Spring Forum"))
    other = withdrawn_booking(app, **OTHER)
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.feed_token = speaker.feed_token or new_feed_token()
        db.session.commit()
        tokens = {b.id: b.tracking_token for b in db.session.scalars(select(BookingRequest))}
        return {
            "completed": completed,
            "withdrawn": withdrawn,
            "other": other,
            "tokens": tokens,
            "feed": f"/calendar/speakers/kaiser-kuo.ics?token={speaker.feed_token}",
            "mail": app.config["BUREAU_SETTINGS"].instance_path / "mail",
        }


def admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, ADMIN).status_code == 302
    return client


def lookup(client: FlaskClient, address: str = EMAIL) -> str:
    response = client.get("/staff/privacy", query_string={"email": address})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def erase(
    client: FlaskClient, confirm: str = ADDRESS, address: str = EMAIL, password: str = PASSWORD
) -> Any:
    page = lookup(client, address)
    return client.post(
        "/staff/privacy/erase",
        data={
            "csrf_token": csrf_from(page),
            "email": address,
            "confirm": confirm,
            "password": password,
        },
    )


def everything_stored(app: Flask) -> list[tuple[str, str, str]]:
    """(table, column, text) for every value of every column of every table."""
    found = []
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
                    found.append((table.name, column, text))
    return found


def where_stored(app: Flask, needles: list[str]) -> list[tuple[str, str, str]]:
    lowered = [n.lower() for n in needles]
    return [
        (table, column, needle)
        for table, column, text in everything_stored(app)
        for needle in lowered
        if needle in text.lower()
    ]


def mail_files_mentioning(folder: Path, needles: list[str]) -> list[str]:
    """.eml files whose headers or decoded text parts contain one of the needles."""
    hits = []
    for path in folder.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        texts = [str(value) for value in message.values()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                texts.append(part.get_content())
        blob = "\n".join(texts).lower()
        hits += [path.name for n in needles if n.lower() in blob]
    return hits


def snapshot(app: Flask) -> list[tuple[str, str, str]]:
    return sorted(everything_stored(app))


# --- finding and export


def test_lookup_lists_requests_and_emails_of_that_address_only(
    app: Flask, world: dict[str, Any]
) -> None:
    page = lookup(admin(app), "OTTILIE.vanderbrook@example.com")
    with app.app_context():
        references = dict(
            db.session.execute(select(BookingRequest.id, BookingRequest.reference)).all()
        )
    assert references[world["completed"]] in page
    assert references[world["withdrawn"]] in page
    assert references[world["other"]] not in page
    assert "Otherperson" not in page
    assert "Your request" in page or "Invitation" in page  # the emails' subjects


def test_export_holds_every_personal_datum_and_nothing_of_others(
    app: Flask, world: dict[str, Any]
) -> None:
    client = admin(app)
    page = lookup(client)
    response = client.post(
        "/staff/privacy/export", data={"csrf_token": csrf_from(page), "email": EMAIL}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="personal-data-ottilie-vanderbrook-')
    assert disposition.endswith('.json"')
    assert "no-store" in response.headers["Cache-Control"]
    text = response.get_data(as_text=True)
    data = json.loads(text)
    assert data["email_address"] == ADDRESS
    for datum in PERSONAL:
        assert datum.lower() in text.lower(), datum
    for datum in OTHER.values():
        assert datum.lower() not in text.lower(), datum
    [completed, withdrawn] = data["requests"]
    # Stored as given, but for the domain (validation lower-cases it).
    stored = "Ottilie.Vanderbrook@example.com"
    assert completed["contact"] == {"name": NAME, "email": stored, "phone": PHONE}
    assert completed["contract"]["travel_terms"] == WRITTEN["travel"]
    assert completed["offers"][0]["logistics"] == WRITTEN["logistics"]
    assert withdrawn["closed_reason"] == WRITTEN["reason"]
    assert WRITTEN["staff_note"] in json.dumps(completed["timeline"])
    assert completed["organizer_feedback"]["rating"] == 4
    assert completed["organizer_feedback"]["comments"] == WRITTEN["comments"]
    assert withdrawn["organizer_feedback"] is None
    kinds = {e["kind"] for e in data["emails"]}
    assert {"mail.acknowledgement", "mail.invite", "mail.proposal"} <= kinds
    assert all(e["recipient"].lower() == ADDRESS for e in data["emails"])
    assert all(e["subject"] and e["state"] == "done" for e in data["emails"])


# --- erasure


def test_erasure_removes_the_organizer_from_every_table_and_mail_file(
    app: Flask, world: dict[str, Any]
) -> None:
    assert where_stored(app, PERSONAL)  # the scan finds them before
    assert mail_files_mentioning(world["mail"], [ADDRESS, NAME])
    with app.app_context():
        before = {
            b.id: (
                b.reference,
                b.status,
                b.starts_at,
                b.format,
                b.city,
                b.country,
                b.audience_size,
                b.budget_min,
                b.budget_max,
                [r.speaker_id for r in b.requested],
                [o.fee for o in b.offers],
                b.contract.fee if b.contract else None,
                [(e.action, e.from_status, e.to_status, e.at) for e in b.events],
            )
            for b in db.session.scalars(select(BookingRequest))
        }
    client = app.test_client()
    feed = client.get(world["feed"])
    assert "Vanderbrook" in feed.get_data(as_text=True)  # the event's title
    old_etag = feed.headers["ETag"]

    signed_in = admin(app)
    response = erase(signed_in)
    assert response.status_code == 303
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Personal data erased: 2 requests" in page

    assert where_stored(app, PERSONAL) == []
    assert mail_files_mentioning(world["mail"], PERSONAL) == []
    with app.app_context():  # the rating stays (it names no one); the comments go
        kept = db.session.scalars(select(OrganizerFeedback)).one()
        assert (kept.rating, kept.comments) == (4, "[erased]")
    # The other organizer is untouched, in the tables and in the mail folder.
    assert {needle for _, _, needle in where_stored(app, list(OTHER.values()))} == {
        v.lower() for v in OTHER.values()
    }
    assert mail_files_mentioning(world["mail"], [OTHER["contact_email"]])

    with app.app_context():
        for b in db.session.scalars(select(BookingRequest)):
            reference, status, *facts, events = before[b.id]
            assert (b.reference, b.status) == (reference, status)
            assert [
                b.starts_at,
                b.format,
                b.city,
                b.country,
                b.audience_size,
                b.budget_min,
                b.budget_max,
                [r.speaker_id for r in b.requested],
                [o.fee for o in b.offers],
                b.contract.fee if b.contract else None,
            ] == facts
            now = [(e.action, e.from_status, e.to_status, e.at) for e in b.events]
            if b.id == world["other"]:
                assert now == events
                assert b.erased_at is None
                continue
            assert now[:-1] == events
            last = b.events[-1]
            assert (last.action, last.actor_label) == ("personal data erased", "Management desk")
            assert b.erased_at is not None
            assert b.contact_email == "erased@erased.invalid"
            assert b.event_name.endswith("Retail Summit") or b.event_name == "Spring Forum"
        engagement = db.session.scalars(select(Engagement)).one()
        assert engagement.ics_text is None
        # Emails to the organizer stay in the log (state, date, subject), without the text.
        organizer_mail = db.session.scalars(
            select(Notification).where(Notification.recipient == "erased@erased.invalid")
        ).all()
        assert len(organizer_mail) >= 4
        assert all(n.sent_at is not None for n in organizer_mail)

    # Old status links are dead; the calendar feed is re-rendered without the organizer.
    for booking_id in (world["completed"], world["withdrawn"]):
        assert client.get(f"/requests/{world['tokens'][booking_id]}").status_code == 404
        assert client.get(f"/api/v1/requests/{world['tokens'][booking_id]}").status_code == 404
    assert client.get(f"/requests/{world['tokens'][world['other']]}").status_code == 200
    # Staff still work with the request: its page shows the facts and the placeholders.
    staff_page = signed_in.get(f"/staff/requests/{world['completed']}")
    assert staff_page.status_code == 200
    assert "[erased]" in staff_page.get_data(as_text=True)
    assert "Personal data erased" in staff_page.get_data(as_text=True)
    feed = client.get(world["feed"], headers={"If-None-Match": old_etag})
    assert feed.status_code == 200
    assert "Vanderbrook" not in feed.get_data(as_text=True)
    assert "[erased] Retail Summit" in feed.get_data(as_text=True)


def test_an_erased_email_cannot_be_sent_again(app: Flask, world: dict[str, Any]) -> None:
    """An admin retrying a failed email after the erasure (Operations, Mail log) sends
    nothing: neither the placeholder to the organizer's erased address nor to staff."""
    assert erase(admin(app)).status_code == 303
    with app.app_context():
        erased = db.session.scalars(
            select(Notification).where(Notification.booking_id == world["completed"])
        ).all()
        to_organizer = next(n for n in erased if n.recipient == ERASED_EMAIL)
        to_staff = next(n for n in erased if n.recipient != ERASED_EMAIL)
        ids = [to_organizer.job_id, to_staff.job_id]
        # As if the SMTP server had refused both before the erasure.
        db.session.execute(update(Job).where(Job.id.in_(ids)).values(state=JobState.FAILED))
        assert sorted(retry_failed(db.session, ids)) == sorted(ids)
        db.session.commit()
        files_before = sorted(world["mail"].iterdir())
        for job_id in ids:
            outcome = run_job(db.session, job_id, send_notification)
            assert outcome is not None
            assert outcome.state == JobState.FAILED
            assert "erased" in (outcome.error or "")
        assert sorted(world["mail"].iterdir()) == files_before


def test_erasing_again_changes_nothing(app: Flask, world: dict[str, Any]) -> None:
    assert erase(admin(app)).status_code == 303
    before = snapshot(app)
    signed_in = admin(app)
    response = erase(signed_in)
    assert response.status_code == 303
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing held for that address" in page
    assert snapshot(app) == before


def test_a_mistyped_confirmation_changes_nothing(app: Flask, world: dict[str, Any]) -> None:
    before = snapshot(app)
    response = erase(admin(app), confirm="ottilie@example.com")
    assert response.status_code == 422
    assert "does not match" in response.get_data(as_text=True)
    assert snapshot(app) == before
    response = erase(admin(app), confirm="")
    assert response.status_code == 422
    assert "Nothing was erased" in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_erasing_asks_for_the_password_again(app: Flask, world: dict[str, Any]) -> None:
    """Issue 15.6: a session left open is not enough to erase an organizer's data."""
    signed_in = admin(app)
    assert 'name="password"' in lookup(signed_in)
    before = snapshot(app)
    for password in ("", "not my password"):
        response = erase(signed_in, password=password)
        assert response.status_code == 422
        assert "Nothing was erased" in response.get_data(as_text=True)
        # Only the wrong password's record (kept for the sign-in pause) is new.
        assert [row for row in snapshot(app) if row[0] != "sign_in_failures"] == before
    assert erase(signed_in).status_code == 303
    assert snapshot(app) != before


def test_an_erasure_without_csrf_token_changes_nothing(app: Flask, world: dict[str, Any]) -> None:
    before = snapshot(app)
    response = admin(app).post("/staff/privacy/erase", data={"email": EMAIL, "confirm": EMAIL})
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_agents_may_not_look_export_or_erase(app: Flask, world: dict[str, Any]) -> None:
    client = app.test_client()
    assert sign_in(client, AGENT).status_code == 302
    before = snapshot(app)
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    assert client.get("/staff/privacy", query_string={"email": EMAIL}).status_code == 403
    for action in ("export", "erase"):
        response = client.post(
            f"/staff/privacy/{action}",
            data={"csrf_token": token, "email": EMAIL, "confirm": EMAIL},
        )
        assert response.status_code == 403
    assert snapshot(app) == before
    assert "Personal data" not in client.get("/staff/").get_data(as_text=True)


# --- retention


def age(app: Flask, booking_id: int, *, idle_for: timedelta, status: Status | None = None) -> None:
    """Make a request look idle for this long: its last change and every timeline entry."""
    when = utcnow() - idle_for
    with app.app_context():
        values: dict[str, Any] = {"updated_at": when, "created_at": when - timedelta(days=1)}
        if status is not None:
            values["status"] = status
        db.session.execute(
            update(BookingRequest).where(BookingRequest.id == booking_id).values(**values)
        )
        events: Table = BookingEvent.__table__  # type: ignore[assignment]
        # Core, past the ORM's append-only guard: only the test moves time back.
        db.session.execute(update(events).where(events.c.booking_id == booking_id).values(at=when))
        db.session.commit()


@pytest.fixture
def aged(app: Flask) -> dict[str, int]:
    """Requests either side of a 730-day boundary; only the first three are stale."""
    day = timedelta(days=1)
    hour = timedelta(hours=1)
    made = {
        "withdrawn_stale": withdrawn_booking(app, contact_email="a@example.net"),
        "declined_stale": submit_and_route(app, contact_email="b@example.net").id,
        "expired_stale": submit_and_route(app, contact_email="c@example.net").id,
        "withdrawn_fresh": withdrawn_booking(app, contact_email="d@example.net"),
        "open_old": submit_and_route(app, contact_email="e@example.net").id,
        "noted_recently": submit_and_route(app, contact_email="f@example.net").id,
        "converted": completed_booking(app),
    }
    age(app, made["withdrawn_stale"], idle_for=730 * day + hour)
    age(app, made["declined_stale"], idle_for=900 * day, status=Status.DECLINED)
    age(app, made["expired_stale"], idle_for=731 * day, status=Status.EXPIRED)
    age(app, made["withdrawn_fresh"], idle_for=730 * day - hour)
    age(app, made["open_old"], idle_for=1000 * day)
    age(app, made["noted_recently"], idle_for=1000 * day, status=Status.EXPIRED)
    with app.app_context():
        booking = db.session.get(BookingRequest, made["noted_recently"])
        note(db.session, booking, actor=STAFF, action="note", details={"text": "still keen"})
        db.session.execute(
            update(BookingRequest)
            .where(BookingRequest.id == booking.id)
            .values(updated_at=utcnow() - 1000 * day)
        )
        db.session.commit()
    # Confirmed once, then cancelled: it converted, so it keeps its details.
    age(app, made["converted"], idle_for=1000 * day, status=Status.CANCELLED)
    return made


def erased_ids(app: Flask) -> set[int]:
    with app.app_context():
        return set(
            db.session.scalars(
                select(BookingRequest.id).where(BookingRequest.erased_at.is_not(None))
            )
        )


def test_retention_anonymises_exactly_the_stale_unconverted_requests(
    app: Flask, aged: dict[str, int]
) -> None:
    stale = {aged["withdrawn_stale"], aged["declined_stale"], aged["expired_stale"]}
    before = snapshot(app)
    with app.app_context():
        references = dict(
            db.session.execute(select(BookingRequest.id, BookingRequest.reference)).all()
        )
        mail = app.config["BUREAU_SETTINGS"].instance_path / "mail"
        dry = apply_retention(db.session, days=730, mail_folder=mail, dry_run=True, batch_size=2)
    assert sorted(dry.references) == sorted(references[i] for i in stale)
    assert snapshot(app) == before  # the dry run changed nothing

    with app.app_context():
        done = apply_retention(db.session, days=730, mail_folder=mail, batch_size=2)
    assert sorted(done.references) == sorted(references[i] for i in stale)
    assert erased_ids(app) == stale
    assert where_stored(app, ["a@example.net", "b@example.net", "c@example.net"]) == []
    assert {
        n for _, _, n in where_stored(app, ["d@example.net", "e@example.net", "f@example.net"])
    } == {
        "d@example.net",
        "e@example.net",
        "f@example.net",
    }
    assert {n for _, _, n in where_stored(app, [ADDRESS])} == {ADDRESS}
    with app.app_context():
        entry = db.session.scalars(
            select(BookingEvent)
            .where(BookingEvent.booking_id == aged["withdrawn_stale"])
            .order_by(BookingEvent.id.desc())
        ).first()
        assert entry.action == "personal data erased (retention)"
        assert entry.details["retention_days"] == 730
        # Running again finds nothing more.
        assert apply_retention(db.session, days=730, mail_folder=mail).references == []
        assert apply_retention(db.session, days=0, mail_folder=mail).cutoff is None


def test_retention_command_and_task(app: Flask, aged: dict[str, int]) -> None:
    runner = app.test_cli_runner()
    before = snapshot(app)
    dry = runner.invoke(cli, ["privacy", "retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("Would anonymise 3 requests that never became bookings")
    assert snapshot(app) == before

    with app.app_context():
        assert apply_retention_task.run() == 3
        celery = app.extensions["celery"]
        assert "bureau.privacy.apply_retention" in celery.tasks
    assert erased_ids(app) == {
        aged["withdrawn_stale"],
        aged["declined_stale"],
        aged["expired_stale"],
    }
    again = runner.invoke(cli, ["privacy", "retention"])
    assert again.exit_code == 0, again.output
    assert again.output.startswith("Anonymised 0 requests")


def test_beat_runs_retention_daily(app: Flask) -> None:
    from workers.schedule import beat_schedule

    schedule = beat_schedule(app.config["BUREAU_SETTINGS"])
    [entry] = [e for e in schedule.values() if e["task"] == "bureau.privacy.apply_retention"]
    assert entry["schedule"] == 86_400.0
