"""The speaker's side of a booking: a payout statement per engagement (the contract's fee, the
bureau's commission, the net the speaker is owed, due BUREAU_PAYOUT_DAYS after the event),
and staff's record that it was paid. Refusals raise ``BillingRefused`` before anything is
written; callers commit.

The speaker reads their statements through a signed, expiring link (no account): it carries
their id only, so it shows nobody else's.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from bureau.billing import terms
from bureau.billing.errors import BillingRefused
from bureau.billing.models import PayoutStatement
from bureau.billing.money import HUNDRED, decimals, format_money, quantize, to_minor
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor, ActorKind, Conflict, note
from bureau.config.settings import DEFAULT_PAYOUT_DAYS
from bureau.db import AnySession, utcnow
from bureau.signed_links import read_link, sign_link

REFERENCE_MAX = 200
LINK_SALT = "bureau.payouts"
LINK_MAX_AGE = 90 * 24 * 3600  # seconds; staff send a fresh link when it has expired


def payout_days() -> int:
    """BUREAU_PAYOUT_DAYS; its default for a script's plain session outside the app."""
    if not has_app_context():
        return DEFAULT_PAYOUT_DAYS
    return int(current_app.config["BUREAU_SETTINGS"].payout_days)


def draft_statement(booking: BookingRequest, days: int | None = None) -> PayoutStatement | None:
    """The statement the booking's contract and firm offer make (not added to the session),
    or None while it has no contract or no offer."""
    offer, contract = booking.offer, booking.contract
    if offer is None or contract is None:
        return None
    currency = contract.currency
    places = decimals(currency)
    fee = quantize(contract.fee, currency)
    commission = quantize(fee * contract.commission_pct / HUNDRED, currency)
    event_on = terms.event_date(booking)
    return PayoutStatement(
        booking_id=booking.id,
        speaker_id=offer.speaker_id,
        currency=currency,
        decimals=places,
        fee_minor=to_minor(fee, places),
        commission_pct=contract.commission_pct,
        commission_minor=to_minor(commission, places),
        net_minor=to_minor(fee - commission, places),
        event_on=event_on,
        due_on=event_on + timedelta(days=payout_days() if days is None else days),
    )


def statement_of(session: AnySession, booking: BookingRequest) -> PayoutStatement | None:
    """The booking's statement for the speaker of its firm offer, if it has been made."""
    offer = booking.offer
    if offer is None:
        return None
    return session.scalars(
        select(PayoutStatement).where(
            PayoutStatement.booking_id == booking.id,
            PayoutStatement.speaker_id == offer.speaker_id,
        )
    ).one_or_none()


def make_statement(
    session: AnySession, booking: BookingRequest, days: int | None = None
) -> PayoutStatement | None:
    """The booking's statement, made once (a second call returns the first): called when the
    booking is completed. None for a booking without contract terms or a firm offer."""
    existing = statement_of(session, booking)
    if existing is not None:
        return existing
    statement = draft_statement(booking, days)
    if statement is None:
        return None
    session.add(statement)
    session.flush()
    return statement


def mark_paid(
    session: AnySession,
    booking: BookingRequest,
    *,
    paid_on: date,
    reference: str | None,
    actor: Actor,
    expected_version: int | None = None,
    today: date | None = None,
) -> PayoutStatement:
    """Record that the speaker was paid on ``paid_on`` (not in the future; before the due
    day is allowed and said on the timeline), once, with a timeline entry."""
    if expected_version is not None and booking.version != expected_version:
        raise Conflict(
            f"{booking.reference} was changed by someone else a moment ago. Nothing was saved; "
            "look at it again."
        )
    if booking.status != Status.COMPLETED:
        raise BillingRefused("A speaker is paid once the booking is completed. Nothing was saved.")
    if paid_on > (today or utcnow().date()):
        raise BillingRefused("A payout cannot be dated in the future. Nothing was saved.")
    statement = make_statement(session, booking)  # a booking completed before payouts existed
    if statement is None:
        raise BillingRefused(f"{booking.reference} has no contract terms to pay the speaker by.")
    if statement.paid_on is not None:
        raise BillingRefused(
            f"This payout was already recorded as paid on {statement.paid_on:%d %b %Y}. "
            "Nothing was changed."
        )
    # Only while still unpaid: of two people marking it paid at once, the second is refused.
    marked = session.execute(
        update(PayoutStatement)
        .where(PayoutStatement.id == statement.id, PayoutStatement.paid_on.is_(None))
        .values(
            paid_on=paid_on,
            paid_by_id=actor.id if actor.kind == ActorKind.STAFF else None,
            paid_recorded_at=utcnow(),
            reference=(reference or "").strip()[:REFERENCE_MAX] or None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0) != 1:
        raise BillingRefused(
            "Someone recorded this payout as paid a moment ago. Nothing was saved."
        )
    session.refresh(statement)
    early = paid_on < statement.due_on
    note(
        session,
        booking,
        actor=actor,
        action="payout paid",
        details={
            "speaker_id": statement.speaker_id,
            "net": str(statement.net),
            "currency": statement.currency,
            "paid_on": paid_on.isoformat(),
            "due_on": statement.due_on.isoformat(),
            "early": early,
            "reference": statement.reference,
        },
    )
    return statement


def paid_message(statement: PayoutStatement) -> str:
    """What staff read once a payout is recorded."""
    paid_on = statement.paid_on
    early = " (before its due day)" if paid_on and paid_on < statement.due_on else ""
    return (
        f"Payout of {format_money(statement.net, statement.currency)} recorded as paid on "
        f"{paid_on:%d %b %Y}{early}."
    )


def statements_of_speaker(session: AnySession, speaker_id: int) -> list[PayoutStatement]:
    """Every statement of one speaker, the latest event first."""
    return list(
        session.scalars(
            select(PayoutStatement)
            .where(PayoutStatement.speaker_id == speaker_id)
            .options(selectinload(PayoutStatement.booking))
            .order_by(PayoutStatement.event_on.desc(), PayoutStatement.id.desc())
        )
    )


def statements_token(speaker_id: int) -> str:
    return sign_link(LINK_SALT, {"speaker": speaker_id})


def read_statements_token(token: str) -> int:
    """The speaker id a link carries, or LinkProblem saying what is wrong with it."""
    expired = _l("This link has expired. Please ask the bureau for a new one.")
    return read_link(LINK_SALT, token, ("speaker",), max_age=LINK_MAX_AGE, expired=expired)[
        "speaker"
    ]
