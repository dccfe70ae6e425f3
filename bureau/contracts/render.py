"""A booking's agreement as HTML and PDF, from the active template, in a Jinja sandbox.

Templates are edited by admins in the staff area and filled with the organizer's own words
(event and organization names), so they run in a ``SandboxedEnvironment`` with autoescaping
and see only plain values prepared here, never a database row. Times are the event's local
wall times, named by its zone (bureau/templating.py). The text a version stores is the
template's output; the PDF wraps it with the signatures (templates/contracts/document.html)
and prints it with bureau/documents.py.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import ActionError
from bureau.calendar.models import Engagement
from bureau.config import Settings
from bureau.contracts.models import Acceptance, AgreementTemplate, ContractVersion
from bureau.contracts.settings import contract_settings
from bureau.db import AnySession
from bureau.documents import render_pdf
from bureau.resources import resource_dir
from bureau.templating import country_name, long_date, money, span_in_zone, time_in_zone

DEFAULT_TEMPLATE = "contracts/default_agreement.html"
DOCUMENT_TEMPLATE = "contracts/document.html"


class ContractRefused(ActionError, ValueError):
    """The agreement cannot be made or changed as asked; the message says why."""


def default_body() -> str:
    """The agreement the bureau ships with: what a new template starts from."""
    return (resource_dir("templates") / DEFAULT_TEMPLATE).read_text(encoding="utf-8")


def active_template(session: AnySession) -> AgreementTemplate | None:
    """The template new versions are made from; None: the default body."""
    return session.scalars(
        select(AgreementTemplate)
        .where(AgreementTemplate.active.is_(True))
        .order_by(AgreementTemplate.edited_at.desc(), AgreementTemplate.id.desc())
        .limit(1)
    ).one_or_none()


def sha256_of(text: str) -> str:
    """The hash a version is known by: SHA-256 of its exact text, UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(sha256: str, length: int = 64) -> str:
    """A hash as people compare it: in groups of four ("144c 37b9 66d3 …")."""
    text = sha256[:length]
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def sandbox() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    env.filters.update(
        money=money,
        long_date=long_date,
        country_name=country_name,
        time_in_zone=time_in_zone,
        span_in_zone=span_in_zone,
    )
    return env


def render_body(body: str, context: dict[str, Any]) -> str:
    """The agreement ``body`` (Jinja) says with ``context``; ContractRefused saying where it
    fails (a syntax error's line, an unknown field, something the sandbox forbids)."""
    try:
        return sandbox().from_string(body).render(context).strip() + "\n"
    except SecurityError as error:
        raise ContractRefused(
            f"The agreement template uses something not allowed: {str(error).rstrip('.')}."
        ) from None
    except TemplateError as error:
        where = getattr(error, "lineno", None)
        line = f" (line {where})" if where else ""
        raise ContractRefused(
            f"The agreement template cannot be filled in{line}: {error.message or error}."
        ) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as error:
        raise ContractRefused(f"The agreement template cannot be filled in: {error}.") from None


def booking_context(
    session: AnySession, booking: BookingRequest, *, number: int, today: date
) -> dict[str, Any]:
    """The plain values a template sees, from the booking's terms and its offer (times from
    the engagement once confirmed: it follows a reschedule)."""
    contract, offer = booking.contract, booking.offer
    if contract is None or offer is None:
        raise ContractRefused("Record the offer and the contract terms before sending a contract.")
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    dated = engagement or offer
    zone = dated.timezone
    event_day = dated.starts_at.astimezone(ZoneInfo(zone)).date()
    settings = contract_settings()
    balance_due = event_day - timedelta(days=settings.balance_due_days)
    currency = contract.currency
    return {
        "reference": booking.reference,
        "version": number,
        "issued": long_date(today),
        "bureau": bureau_party(),
        "organizer": {
            "organization": booking.organization,
            "contact_name": booking.contact_name,
            "contact_email": booking.contact_email,
        },
        "speaker": {"name": offer.speaker.name},
        "event": {
            "name": booking.event_name,
            "format": offer.format,
            "when": span_in_zone(dated.starts_at, dated.ends_at, zone),
            "starts": time_in_zone(dated.starts_at, zone),
            "date": long_date(event_day),
            "zone": zone,
            "is_virtual": offer.is_virtual,
            "venue": offer.venue or "",
            "city": offer.city or "",
            "country": country_name(offer.country),
            "place": ", ".join(
                part for part in (offer.venue, offer.city, country_name(offer.country)) if part
            ),
        },
        "currency": currency,
        "fee": money(contract.fee, currency),
        "fee_amount": contract.fee,
        "deposit": money(contract.deposit_amount, currency),
        "deposit_amount": contract.deposit_amount,
        "deposit_due": long_date(contract.deposit_due),
        "balance": money(contract.fee - contract.deposit_amount, currency),
        "balance_amount": contract.fee - contract.deposit_amount,
        "balance_due": long_date(balance_due),
        "balance_on_acceptance": balance_due <= today,
        "travel": contract.travel_terms or "",
        "logistics": offer.logistics or "",
        "cancellation": settings.schedule.lines(),
        "governing_law": settings.governing_law,
    }


def sample_context() -> dict[str, Any]:
    """Made-up values of every field, for previewing a template when no booking has terms."""
    when = datetime(2030, 3, 10, 1, 0, tzinfo=ZoneInfo("UTC"))
    zone = "Asia/Shanghai"
    return {
        "reference": "BR-2030-00001",
        "version": 1,
        "issued": long_date(date(2030, 1, 2)),
        "bureau": bureau_party(),
        "organizer": {
            "organization": "Example Events Ltd",
            "contact_name": "Li Na",
            "contact_email": "li.na@example.com",
        },
        "speaker": {"name": "Kaiser Kuo"},
        "event": {
            "name": "Annual Leadership Forum",
            "format": "keynote",
            "when": span_in_zone(when, when + timedelta(hours=1), zone),
            "starts": time_in_zone(when, zone),
            "date": long_date(date(2030, 3, 10)),
            "zone": zone,
            "is_virtual": False,
            "venue": "Expo Centre",
            "city": "Shanghai",
            "country": country_name("CN"),
            "place": f"Expo Centre, Shanghai, {country_name('CN')}",
        },
        "currency": "USD",
        "fee": money(12500, "USD"),
        "fee_amount": 12500,
        "deposit": money(6250, "USD"),
        "deposit_amount": 6250,
        "deposit_due": long_date(date(2030, 1, 15)),
        "balance": money(6250, "USD"),
        "balance_amount": 6250,
        "balance_due": long_date(date(2030, 2, 24)),
        "balance_on_acceptance": False,
        "travel": "Economy plus, two nights",
        "logistics": "Two nights at the venue hotel",
        "cancellation": contract_settings().schedule.lines(),
        "governing_law": contract_settings().governing_law,
    }


def bureau_party() -> dict[str, str]:
    """The bureau's legal name, address and tax number (BUREAU_LEGAL_*, BUREAU_TAX_NUMBER)."""
    settings: Settings = current_app.config["BUREAU_SETTINGS"]
    return {
        "name": settings.legal_name,
        "address": ", ".join(line.strip() for line in settings.legal_address.splitlines()),
        "tax_number": settings.tax_number,
    }


def render_agreement(
    session: AnySession,
    booking: BookingRequest,
    *,
    number: int,
    today: date,
    template: AgreementTemplate | None = None,
) -> str:
    """The agreement's HTML for version ``number``, from ``template`` or the active one."""
    chosen = template or active_template(session)
    body = chosen.body if chosen is not None else default_body()
    return render_body(body, booking_context(session, booking, number=number, today=today))


def document_html(version: ContractVersion, reference: str) -> str:
    """The whole page of a version: its agreement as sent, then the signatures so far."""
    acceptance: Acceptance | None = version.acceptance
    return render_template(
        DOCUMENT_TEMPLATE,
        version=version,
        reference=reference,
        acceptance=acceptance,
        accepted_at=_utc_words(acceptance.accepted_at) if acceptance else "",
        countersigned_at=_utc_words(version.countersigned_at),
        status_words={
            "sent": _("not yet"),
            "declined": _("declined"),
            "void": _("void: replaced by a later version"),
        }.get(version.status, version.status),
    )


def _utc_words(instant: datetime | None) -> str:
    return time_in_zone(instant, "UTC") if instant is not None else ""


def document_pdf(version: ContractVersion, reference: str) -> bytes:
    """The version's PDF (the final one once accepted and countersigned)."""
    return render_pdf(document_html(version, reference))
