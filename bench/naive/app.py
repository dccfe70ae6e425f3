"""A booking-request service written the plain way: the naive baseline of ``bench.api`` and
``bench.pipeline``.

One Flask app with Flask-SQLAlchemy models (a request, its requested speakers, the speakers,
the desks), ``POST /api/v1/requests`` that checks the fields plainly, inserts, commits, calls
``route.delay(id)`` and answers 201, and a Celery task ``route(id)`` that loads the request,
picks the least-loaded desk in one query, updates the request, renders two emails (text and
HTML, Jinja2) and sends them with smtplib. Celery is set up as Flask's documentation shows,
with Celery's default settings (only the broker is given). No outbox, no idempotency, no rate
limit, no timeline: what a developer would write first.

Settings come from the environment: ``NAIVE_DATABASE_URL``, ``NAIVE_BROKER_URL``,
``NAIVE_SMTP_HOST``, ``NAIVE_SMTP_PORT``, ``NAIVE_BASE_URL``.

    gunicorn 'bench.naive.app:create_app()'
    celery -A bench.naive.worker worker
"""

from __future__ import annotations

import os
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery import Celery, Task, shared_task
from email_validator import EmailNotValidError, validate_email
from flask import Flask, render_template, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import and_, func, select

db = SQLAlchemy()

FORMATS = {
    "keynote": "Keynote",
    "panel": "Panel discussion",
    "workshop": "Workshop",
    "moderation": "Moderation",
    "fireside": "Fireside chat",
    "virtual": "Virtual talk",
}
REQUIRED = (
    "event_name", "organization", "contact_name", "contact_email", "starts_at", "ends_at",
    "format", "timezone", "speakers",
)  # fmt: skip
DATE_FORMAT = "%Y-%m-%dT%H:%M"


class Speaker(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "naive_speakers"
    id = db.Column(db.Integer, primary_key=True)
    slug = db.Column(db.String(100), unique=True, nullable=False)
    name = db.Column(db.String(200), nullable=False)


class Desk(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "naive_desks"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200), nullable=False)
    email = db.Column(db.String(254), nullable=False)


class BookingRequest(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "naive_requests"
    id = db.Column(db.Integer, primary_key=True)
    status = db.Column(db.String(20), nullable=False, default="new", index=True)
    event_name = db.Column(db.String(200), nullable=False)
    organization = db.Column(db.String(200), nullable=False)
    contact_name = db.Column(db.String(200), nullable=False)
    contact_email = db.Column(db.String(254), nullable=False)
    contact_phone = db.Column(db.String(50))
    starts_at = db.Column(db.DateTime, nullable=False)  # local time at the event
    ends_at = db.Column(db.DateTime, nullable=False)
    timezone = db.Column(db.String(64), nullable=False)
    format = db.Column(db.String(20), nullable=False)
    virtual = db.Column(db.Boolean, nullable=False, default=False)
    city = db.Column(db.String(100))
    country = db.Column(db.String(2))
    audience_size = db.Column(db.Integer)
    audience = db.Column(db.String(200))
    budget_min = db.Column(db.Integer)
    budget_max = db.Column(db.Integer)
    currency = db.Column(db.String(3))
    message = db.Column(db.Text)
    created_at = db.Column(db.DateTime, nullable=False, default=datetime.utcnow)
    desk_id = db.Column(db.Integer, db.ForeignKey("naive_desks.id"), index=True)
    desk = db.relationship(Desk)
    speakers = db.relationship(
        "RequestedSpeaker", order_by="RequestedSpeaker.position", cascade="all, delete-orphan"
    )


class RequestedSpeaker(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "naive_requested_speakers"
    request_id = db.Column(db.Integer, db.ForeignKey("naive_requests.id"), primary_key=True)
    speaker_id = db.Column(db.Integer, db.ForeignKey("naive_speakers.id"), primary_key=True)
    position = db.Column(db.Integer, nullable=False)
    speaker = db.relationship(Speaker)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("NAIVE_DATABASE_URL", "sqlite:///naive.db"),
        SMTP_HOST=os.environ.get("NAIVE_SMTP_HOST", "127.0.0.1"),
        SMTP_PORT=int(os.environ.get("NAIVE_SMTP_PORT", "25")),
        BASE_URL=os.environ.get("NAIVE_BASE_URL", "http://127.0.0.1:8000"),
        CELERY={"broker_url": os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:6379/0")},
    )
    app.config.update(config or {})
    db.init_app(app)
    celery_init_app(app)
    app.add_url_rule("/api/v1/requests", view_func=create_request, methods=["POST"])
    app.add_url_rule("/healthz", view_func=lambda: "ok\n")
    return app


def celery_init_app(app: Flask) -> Celery:
    """Flask's documented pattern: tasks run inside the app's context."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def create_request() -> tuple[dict[str, Any], int]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"errors": {"body": "Send a JSON object."}}, 422
    errors: dict[str, str] = {}
    for name in REQUIRED:
        if data.get(name) in (None, "", []):
            errors[name] = "This field is required."
    if errors:
        return {"errors": errors}, 422

    try:
        email = validate_email(str(data["contact_email"]), check_deliverability=False).normalized
    except EmailNotValidError as error:
        errors["contact_email"] = str(error)
    try:
        zone = ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "Unknown time zone."
        zone = ZoneInfo("UTC")
    try:  # local times at the event, stored as given with the zone's name beside them
        starts = datetime.strptime(str(data["starts_at"]), DATE_FORMAT)  # noqa: DTZ007
        ends = datetime.strptime(str(data["ends_at"]), DATE_FORMAT)  # noqa: DTZ007
        if ends <= starts:
            errors["ends_at"] = "The event must end after it starts."
        elif starts.replace(tzinfo=zone) < datetime.now(zone):
            errors["starts_at"] = "The event must be in the future."
    except ValueError:
        errors["starts_at"] = "Use YYYY-MM-DDTHH:MM."
    if data["format"] not in FORMATS:
        errors["format"] = "Unknown format."
    virtual = bool(data.get("virtual", False))
    if not virtual and not (data.get("city") and data.get("country")):
        errors["city"] = "Give the city and country, or mark the event virtual."
    for name in ("audience_size", "budget_min", "budget_max"):
        if data.get(name) is not None and (not isinstance(data[name], int) or data[name] < 0):
            errors[name] = "Give a whole number."
    slugs = data["speakers"]
    if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
        errors["speakers"] = "Give a list of speaker slugs."
        slugs = []
    found = {s.slug: s for s in Speaker.query.filter(Speaker.slug.in_(slugs)).all()}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        errors["speakers"] = "Unknown speakers: " + ", ".join(missing)
    if errors:
        return {"errors": errors}, 422

    booking = BookingRequest(
        event_name=data["event_name"],
        organization=data["organization"],
        contact_name=data["contact_name"],
        contact_email=email,
        contact_phone=data.get("contact_phone"),
        starts_at=starts,
        ends_at=ends,
        timezone=data["timezone"],
        format=data["format"],
        virtual=virtual,
        city=data.get("city"),
        country=data.get("country"),
        audience_size=data.get("audience_size"),
        audience=data.get("audience"),
        budget_min=data.get("budget_min"),
        budget_max=data.get("budget_max"),
        currency=data.get("currency"),
        message=data.get("message"),
        speakers=[
            RequestedSpeaker(speaker=found[slug], position=n) for n, slug in enumerate(slugs)
        ],
    )
    db.session.add(booking)
    db.session.commit()
    route.delay(booking.id)
    return {"id": booking.id, "status": booking.status}, 201


@shared_task(ignore_result=True)
def route(request_id: int) -> None:
    booking = db.session.get(BookingRequest, request_id)
    if booking is None or booking.status != "new":
        return
    desk = db.session.execute(
        select(Desk)
        .outerjoin(
            BookingRequest,
            and_(BookingRequest.desk_id == Desk.id, BookingRequest.status == "assigned"),
        )
        .group_by(Desk.id)
        .order_by(func.count(BookingRequest.id), Desk.id)
        .limit(1)
    ).scalar_one()
    booking.desk = desk
    booking.status = "assigned"
    db.session.commit()

    from flask import current_app

    url = f"{current_app.config['BASE_URL']}/requests/{booking.id}"
    context = {"booking": booking, "desk": desk, "url": url, "formats": FORMATS}
    acknowledgement = email_message(
        f"We received your request #{booking.id}: {booking.event_name}",
        booking.contact_email,
        "acknowledgement",
        context,
    )
    notice = email_message(
        f"New request #{booking.id} for you: {booking.event_name}",
        desk.email,
        "staff_notice",
        context,
    )
    with smtplib.SMTP(current_app.config["SMTP_HOST"], current_app.config["SMTP_PORT"]) as smtp:
        smtp.send_message(acknowledgement)
        smtp.send_message(notice)


def email_message(subject: str, to: str, template: str, context: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Bureau <bookings@bureau.localhost>"
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="bureau.localhost")
    message.set_content(render_template(f"{template}.txt", **context))
    message.add_alternative(render_template(f"{template}.html", **context), subtype="html")
    return message


def seed(speakers: list[tuple[str, str]], desks: list[tuple[str, str]]) -> None:
    """Create the tables and add the speakers (slug, name) and desks (name, email)."""
    db.create_all()
    db.session.add_all(Speaker(slug=slug, name=name) for slug, name in speakers)
    db.session.add_all(Desk(name=name, email=email) for name, email in desks)
    db.session.commit()
