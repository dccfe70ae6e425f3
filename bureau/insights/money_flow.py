"""Money in and owed: billed against collected per month, receivables by age, commission earned.

Every figure is a grouped SQL aggregate over the invoices, payments or contracts (a constant
number of queries, none per row), kept apart by currency: amounts in two currencies are never
added together. Amounts are summed as whole minor units (cents, yen), exact on SQLite and
PostgreSQL, and read back as ``Decimal`` in the currency's decimals. Definitions are in
docs/topics/insights.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Integer, Select, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from bureau.billing.models import Invoice, InvoiceKind, Payment
from bureau.billing.money import from_minor, quantum
from bureau.bookings.models import BookingRequest, Contract, Offer
from bureau.bookings.states import Status
from bureau.db import AnySession
from bureau.insights.dialect import calendar_month
from bureau.insights.scope import Scope, assigned, months_of, on_days

# Commission is earned on bookings that are confirmed or completed (a contracted booking may
# still fall through; a cancelled one is billed by the cancellation schedule, not commission).
EARNED = (Status.CONFIRMED.value, Status.COMPLETED.value)
# Ageing buckets by whole days past the due day: (label, most days past due; None = no limit).
AGEING: tuple[tuple[str, int | None], ...] = (
    ("Current", 0),
    ("1 to 30 days", 30),
    ("31 to 60 days", 60),
    ("61 to 90 days", 90),
    ("Over 90 days", None),
)
ZERO = Decimal(0)


@dataclass(frozen=True)
class MonthMoney:
    """One month in one currency: invoices issued (net of void, credit notes negative), their
    total with tax, the payments received, and the commission earned."""

    invoices: int = 0
    billed: Decimal = ZERO
    collected: Decimal = ZERO
    commission: Decimal = ZERO


@dataclass
class Billing:
    """{currency: {'YYYY-MM': MonthMoney}} for the period and {currency: {bucket: (invoices,
    amount still due)}} as of ``as_of``; currencies only where there is something to show."""

    as_of: date
    months: dict[str, dict[str, MonthMoney]] = field(default_factory=dict)
    ageing: dict[str, dict[str, tuple[int, Decimal]]] = field(default_factory=dict)

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.months) | set(self.ageing))


def _amounts(rows: Iterable[Any]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """(currency, key, count, minor units, decimals) rows into {(currency, key): (count,
    amount)}; a currency stored with two numbers of decimals still adds up exactly."""
    found: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for currency, key, count, minor, places in rows:
        before_count, before = found.get((currency, key), (0, ZERO))
        found[currency, key] = (before_count + int(count), before + from_minor(int(minor), places))
    return found


def _monthly(
    session: AnySession, scope: Scope, rows: Select[Any], day: Any, currency: Any, minor: Any
) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """``rows`` (joined to Invoice and BookingRequest) in the period by (currency, month of
    ``day``): how many, and the sum of ``minor``."""
    month = calendar_month(session, day).label("month")
    return _amounts(
        session.execute(
            rows.add_columns(currency, month, func.count(), func.sum(minor), Invoice.decimals)
            .where(*on_days(scope, day))
            .group_by(currency, month, Invoice.decimals)
        )
    )


def billed(session: AnySession, scope: Scope) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Invoices issued in the period by (currency, month): how many, and their total with tax;
    void invoices left out, credit notes (stored negative) subtract."""
    rows = (
        select()
        .select_from(Invoice)
        .join(BookingRequest, BookingRequest.id == Invoice.booking_id)
        .where(Invoice.voided_at.is_(None))
    )
    return _monthly(session, scope, rows, Invoice.issued_on, Invoice.currency, Invoice.total_minor)


def collected(session: AnySession, scope: Scope) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Payments received in the period by (currency, month of payment)."""
    rows = (
        select()
        .select_from(Payment)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .join(BookingRequest, BookingRequest.id == Invoice.booking_id)
    )
    return _monthly(session, scope, rows, Payment.paid_on, Payment.currency, Payment.amount_minor)


def commission_earned(session: AnySession, scope: Scope) -> dict[tuple[str, str], Decimal]:
    """Fee * commission % of the contracts of confirmed or completed bookings, by (currency,
    month of the event): the latest offer's local start, else the request's. Summed exactly
    (fee * percent * 100 is a whole number), rounded half up once per month."""
    latest = (
        select(Offer.booking_id, func.max(Offer.id).label("offer_id"))
        .group_by(Offer.booking_id)
        .subquery("latest_offer")
    )
    starts = func.coalesce(Offer.starts_local, BookingRequest.starts_local)
    month = calendar_month(session, starts).label("month")
    pct_hundredths = cast(func.round(Contract.commission_pct * 100), Integer)
    first = datetime.combine(scope.start, datetime.min.time())
    after = datetime.combine(scope.end + timedelta(days=1), datetime.min.time())
    rows = session.execute(
        select(Contract.currency, month, func.sum(Contract.fee * pct_hundredths))
        .join(BookingRequest, BookingRequest.id == Contract.booking_id)
        .outerjoin(latest, latest.c.booking_id == BookingRequest.id)
        .outerjoin(Offer, Offer.id == latest.c.offer_id)
        .where(BookingRequest.status.in_(EARNED), starts >= first, starts < after, *assigned(scope))
        .group_by(Contract.currency, month)
    ).all()
    return {
        (currency, key): (Decimal(int(total)) / 10_000).quantize(
            quantum(currency), rounding=ROUND_HALF_UP
        )
        for currency, key, total in rows
    }


def _bucket(today: date) -> ColumnElement[str]:
    """The ageing bucket of an invoice by its due day: days past due = today - due_on."""
    limits = [(Invoice.due_on >= today - timedelta(days=n), label) for label, n in AGEING if n]
    return case((Invoice.due_on >= today, AGEING[0][0]), *limits, else_=AGEING[-1][0])


def ageing(
    session: AnySession, scope: Scope, today: date
) -> dict[str, dict[str, tuple[int, Decimal]]]:
    """What is still due on live invoices (not void, not credit notes) as of ``today``, by
    currency and days past due; the staff filter applies, the period does not (what is owed
    now, whenever it was billed)."""
    paid = (
        select(Payment.invoice_id, func.sum(Payment.amount_minor).label("paid"))
        .group_by(Payment.invoice_id)
        .subquery("paid")
    )
    balance = Invoice.total_minor - func.coalesce(paid.c.paid, 0)
    # One row per open invoice, then grouped: the bucket is a column of the subquery, so the
    # GROUP BY names it rather than repeating a CASE with its own parameters.
    open_invoices = (
        select(
            Invoice.currency.label("currency"),
            _bucket(today).label("bucket"),
            balance.label("due"),
            Invoice.decimals.label("places"),
        )
        .join(BookingRequest, BookingRequest.id == Invoice.booking_id)
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(
            Invoice.voided_at.is_(None),
            Invoice.kind != InvoiceKind.CREDIT_NOTE.value,
            balance > 0,
            *assigned(scope),
        )
        .subquery("open_invoices")
    )
    c = open_invoices.c
    rows = session.execute(
        select(c.currency, c.bucket, func.count(), func.sum(c.due), c.places).group_by(
            c.currency, c.bucket, c.places
        )
    )
    result: dict[str, dict[str, tuple[int, Decimal]]] = {}
    for (currency, bucket), amount in sorted(_amounts(rows).items()):
        result.setdefault(currency, {label: (0, ZERO) for label, _ in AGEING})[bucket] = amount
    return result


def billing(session: AnySession, scope: Scope, today: date) -> Billing:
    """Every money figure of the page, per currency: four grouped queries."""
    issued, received = billed(session, scope), collected(session, scope)
    earned = commission_earned(session, scope)
    result = Billing(today, ageing=ageing(session, scope, today))
    for currency, key in sorted(set(issued) | set(received) | set(earned)):
        months = result.months.setdefault(currency, {m: MonthMoney() for m in months_of(scope)})
        count, amount = issued.get((currency, key), (0, ZERO))
        months[key] = MonthMoney(
            count,
            amount,
            received.get((currency, key), (0, ZERO))[1],
            earned.get((currency, key), ZERO),
        )
    return result
