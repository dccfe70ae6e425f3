"""Billed against collected, receivables ageing and commission earned on the insights page,
and the bookkeeper's CSV, against a small ledger worked out by hand.

The ledger (period: January to March 2025; tax 10 %):

invoice  booking  kind         issued   due      total         payments
I1       USD      deposit      10 Jan   24 Jan   1,100.00      600.00 on 1 Feb, 500.00 on 2 Mar
J1       JPY      deposit      20 Jan    3 Feb   550,006       50,006 on 10 Mar
I2       USD      balance      10 Feb   24 Feb   2,200.00      200.00 on 20 Feb
I3       USD      cancellation 11 Feb   25 Feb   1,098.90      (void)
I4       USD      credit note  15 Mar   29 Mar   -330.00

Commission: the USD booking (confirmed, event 15 Feb) 10,000 at 20 % = 2,000.00; the JPY
booking (completed, event 5 Mar) 1,000,000 at 15 % = 150,000; a contracted USD booking
(event 20 Feb) earns nothing yet.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bureau.billing import services
from bureau.billing.models import Invoice
from bureau.billing.services import Party
from bureau.bookings.models import BookingRequest, Contract, Offer
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.insights.ledger import COLUMNS
from bureau.insights.money_flow import MonthMoney, ageing, billing
from bureau.insights.queries import Scope
from bureau.staff.models import Role
from tests.workflow_helpers import offer_terms, sign_in, staff_member, submit_and_route

ISSUER = Party("Example Speakers Ltd", "1 Example Street\nLondon", "GB123456789")
PERIOD = Scope(date(2025, 1, 1), date(2025, 3, 31))
QUERY = "from=2025-01-01&to=2025-03-31"
TODAY = date(2025, 4, 30)
ADMIN = "management@bureau.localhost"
AGENT = "china.desk@bureau.localhost"
D = Decimal


def booked(
    app: Flask, currency: str, fee: int, pct: str, status: str, event: datetime, **changes: Any
) -> int:
    """A routed booking with contract terms, in ``status``, its event on ``event``; its id."""
    booking = submit_and_route(app, currency=currency, **changes)
    with app.app_context():
        row = db.session.get(BookingRequest, booking.id)
        row.status = status
        row.starts_local = event
        db.session.add(
            Contract(
                booking_id=booking.id,
                fee=fee,
                currency=currency,
                commission_pct=D(pct),
                deposit_amount=fee // 2,
                deposit_due=date(2025, 1, 1),
            )
        )
        db.session.commit()
    return booking.id


def issue(
    booking: BookingRequest, kind: str, net: str, issued: date, due: date, rate: str = "10"
) -> Invoice:
    return services.issue_invoice(
        db.session,
        booking,
        kind,
        net=net,
        tax_rate_pct=rate,
        issuer=ISSUER,
        issued_on=issued,
        due_on=due,
    )


def pay(invoice: Invoice, amount: str, on: date, reference: str | None = None) -> None:
    services.record_payment(
        db.session,
        invoice,
        amount=amount,
        currency=invoice.currency,
        paid_on=on,
        method="bank_transfer",
        reference=reference,
        today=TODAY,
    )


@pytest.fixture
def ledger(app: Flask) -> dict[str, int]:
    usd = booked(app, "USD", 10_000, "20", "confirmed", datetime(2025, 2, 15, 10))
    jpy = booked(app, "JPY", 1_000_000, "15", "completed", datetime(2025, 3, 5, 10))
    booked(app, "USD", 7_000, "10", "contracted", datetime(2025, 2, 20, 10))
    with app.app_context():
        u, j = db.session.get(BookingRequest, usd), db.session.get(BookingRequest, jpy)
        i1 = issue(u, "deposit", "1000", date(2025, 1, 10), date(2025, 1, 24))
        j1 = issue(j, "deposit", "500005", date(2025, 1, 20), date(2025, 2, 3))
        i2 = issue(u, "balance", "2000", date(2025, 2, 10), date(2025, 2, 24))
        i3 = issue(u, "cancellation", "999", date(2025, 2, 11), date(2025, 2, 25))
        services.void_invoice(db.session, i3, reason="=issued twice")
        issue(u, "credit_note", "300", date(2025, 3, 15), date(2025, 3, 29))
        pay(i1, "600", date(2025, 2, 1))
        pay(i1, "500", date(2025, 3, 2))
        pay(j1, "50006", date(2025, 3, 10), reference="=SUM(A1:A9)")
        pay(i2, "200", date(2025, 2, 20), reference="-wire 42")
        db.session.commit()
    return {"usd": usd, "jpy": jpy}


def test_billed_collected_and_commission_by_month_never_across_currencies(
    app: Flask, ledger: dict[str, int]
) -> None:
    with app.app_context():
        figures = billing(db.session, PERIOD, TODAY)
    assert figures.currencies == ["JPY", "USD"]
    assert figures.months["USD"] == {
        "2025-01": MonthMoney(1, D("1100.00"), D(0), D(0)),
        "2025-02": MonthMoney(1, D("2200.00"), D("800.00"), D("2000.00")),  # I3 void: out
        "2025-03": MonthMoney(1, D("-330.00"), D("500.00"), D(0)),  # the credit note subtracts
    }
    assert figures.months["JPY"] == {
        "2025-01": MonthMoney(1, D(550006), D(0), D(0)),
        "2025-02": MonthMoney(),
        "2025-03": MonthMoney(0, D(0), D(50006), D(150000)),
    }
    # Decimals of each currency's own: yen have none, dollars two.
    assert str(figures.months["JPY"]["2025-01"].billed) == "550006"
    assert str(figures.months["USD"]["2025-01"].billed) == "1100.00"
    # As of TODAY: I2 (due 24 Feb, 65 days) still owes 2,000.00; J1 (due 3 Feb, 86 days)
    # 500,000; I1 is paid, I3 void, I4 a credit note.
    assert figures.ageing["USD"]["61 to 90 days"] == (1, D("2000.00"))
    assert figures.ageing["JPY"]["61 to 90 days"] == (1, D(500000))
    assert sum(n for n, _ in figures.ageing["USD"].values()) == 1


def test_the_staff_filter_and_the_period_narrow_the_figures(
    app: Flask, ledger: dict[str, int]
) -> None:
    with app.app_context():
        nobody = billing(db.session, Scope(PERIOD.start, PERIOD.end, 987_654), TODAY)
        february = billing(db.session, Scope(date(2025, 2, 1), date(2025, 2, 28)), TODAY)
    assert nobody.currencies == []
    assert february.months["USD"] == {"2025-02": MonthMoney(1, D("2200.00"), D("800.00"), D(2000))}
    assert "JPY" not in february.months  # nothing in yen that month
    assert february.ageing == billing_ageing(app)  # what is owed does not depend on the period


def billing_ageing(app: Flask) -> Any:
    with app.app_context():
        return ageing(db.session, PERIOD, TODAY)


def test_receivables_age_by_days_past_due_at_the_bucket_boundaries(app: Flask) -> None:
    usd = booked(app, "USD", 10_000, "20", "confirmed", datetime(2025, 2, 15, 10))
    jpy = booked(app, "JPY", 1_000_000, "15", "confirmed", datetime(2025, 2, 15, 10))
    issued = TODAY - timedelta(days=200)
    with app.app_context():
        u, j = db.session.get(BookingRequest, usd), db.session.get(BookingRequest, jpy)
        # Days past due -> a net amount (no tax) that says which invoice it was.
        # (A booking has one live deposit and balance invoice at most: cancellation invoices.)
        for days, net in (
            (-5, 1),
            (0, 2),
            (1, 4),
            (30, 8),
            (31, 16),
            (60, 32),
            (61, 64),
            (90, 128),
        ):
            issue(u, "cancellation", str(net), issued, TODAY - timedelta(days=days), rate="0")
        issue(u, "balance", "256", issued, TODAY - timedelta(days=91), rate="0")
        partly = issue(u, "deposit", "1000", issued, TODAY - timedelta(days=15), rate="0")
        pay(partly, "996", issued)  # 4.00 left, 15 days late
        paid = issue(u, "cancellation", "500", issued, TODAY - timedelta(days=45), rate="0")
        pay(paid, "500", issued)  # nothing left: not a receivable
        void = issue(u, "cancellation", "700", issued, TODAY - timedelta(days=45), rate="0")
        services.void_invoice(db.session, void, reason="wrong amount")
        issue(u, "credit_note", "300", issued, TODAY - timedelta(days=45), rate="0")
        issue(j, "deposit", "1000", issued, TODAY - timedelta(days=10), rate="0")
        db.session.commit()
        aged = ageing(db.session, PERIOD, TODAY)
    assert aged["USD"] == {
        "Current": (2, D("3.00")),  # not yet due, and due today
        "1 to 30 days": (3, D("16.00")),  # 1 and 30 days, and the partly paid one
        "31 to 60 days": (2, D("48.00")),
        "61 to 90 days": (2, D("192.00")),
        "Over 90 days": (1, D("256.00")),
    }
    assert aged["JPY"] == {
        "Current": (0, D(0)),
        "1 to 30 days": (1, D(1000)),
        "31 to 60 days": (0, D(0)),
        "61 to 90 days": (0, D(0)),
        "Over 90 days": (0, D(0)),
    }


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_bookkeepers_csv_has_one_row_per_invoice_and_payment(
    app: Flask, ledger: dict[str, int]
) -> None:
    staff_member(app, ADMIN, role=Role.ADMIN)
    client = app.test_client()
    sign_in(client, ADMIN)
    response = client.get(f"/staff/insights/invoices.csv?{QUERY}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "invoices-20250101-20250331.csv" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = rows_of(text)
    assert [(r["record"], r["date"], r["kind"]) for r in rows] == [
        ("invoice", "2025-01-10", "deposit"),
        ("invoice", "2025-01-20", "deposit"),
        ("payment", "2025-02-01", "deposit"),
        ("invoice", "2025-02-10", "balance"),
        ("invoice", "2025-02-11", "cancellation"),
        ("payment", "2025-02-20", "balance"),
        ("payment", "2025-03-02", "deposit"),
        ("payment", "2025-03-10", "deposit"),
        ("invoice", "2025-03-15", "credit_note"),
    ]
    i1, j1, p1, _, i3, p2, _, p3, i4 = rows
    assert (i1["currency"], i1["net"], i1["tax_rate_pct"], i1["tax"], i1["total"]) == (
        "USD",
        "1000.00",
        "10.00",
        "100.00",
        "1100.00",
    )
    assert (j1["currency"], j1["total"], j1["paid"]) == ("JPY", "550006", "")
    assert (p1["invoice"], p1["paid"], p1["method"]) == (i1["invoice"], "600.00", "bank_transfer")
    assert (p3["currency"], p3["paid"], p3["invoice"]) == ("JPY", "50006", j1["invoice"])
    assert i4["total"] == "-330.00"  # a number, not defused: the bureau wrote it
    assert i3["voided_on"]
    assert i3["void_reason"] == "'=issued twice"
    assert p3["payment_reference"] == "'=SUM(A1:A9)"  # people's text is defused
    assert p2["payment_reference"] == "'-wire 42"
    assert i1["invoice"].startswith("INV-2025-")
    assert i1["booking"]
    assert i1["client"]


def test_the_csv_is_for_admins_and_refuses_a_bad_period(app: Flask, ledger: dict[str, int]) -> None:
    staff_member(app, AGENT)
    agent = app.test_client()
    sign_in(agent, AGENT)
    assert agent.get(f"/staff/insights/invoices.csv?{QUERY}").status_code == 403
    staff_member(app, ADMIN, role=Role.ADMIN)
    admin = app.test_client()
    sign_in(admin, ADMIN)
    bad = admin.get("/staff/insights/invoices.csv?from=2025-03-31&to=2025-01-01")
    assert bad.status_code == 422
    assert "start on or before" in bad.get_data(as_text=True)
    assert app.test_client().get("/staff/insights/invoices.csv").status_code == 302


def test_the_insights_page_shows_one_table_per_currency(app: Flask, ledger: dict[str, int]) -> None:
    staff_member(app, ADMIN, role=Role.ADMIN)
    admin = app.test_client()
    sign_in(admin, ADMIN)
    page = admin.get(f"/staff/insights?{QUERY}").get_data(as_text=True)
    for table in ("billing-usd", "billing-jpy", "ageing-usd", "ageing-jpy"):
        assert f'data-table="{table}"' in page
    for figure in ("550,006", "1,100.00", "-330.00", "150,000", "2,000.00"):
        assert figure in page
    assert "/staff/insights/invoices.csv?from=2025-01-01&amp;to=2025-03-31" in page
    staff_member(app, AGENT)
    agent = app.test_client()
    sign_in(agent, AGENT)
    own = agent.get(f"/staff/insights?{QUERY}").get_data(as_text=True)
    assert "invoices.csv" not in own  # the export link is for admins


def test_commission_is_earned_in_the_month_of_the_latest_offers_event(app: Flask) -> None:
    """The request said 15 February; the offers moved the event, the latest to 3 March."""
    booking_id = booked(app, "USD", 10_000, "12.5", "completed", datetime(2025, 2, 15, 10))
    with app.app_context():
        values = {k: v for k, v in offer_terms().__dict__.items() if k != "speaker_slug"}
        speaker_id = db.session.scalars(select(Speaker.id).order_by(Speaker.id)).first()
        for day in (date(2025, 2, 20), date(2025, 3, 3)):
            start = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
            values |= {"starts_local": start, "ends_local": start + timedelta(hours=1)}
            db.session.add(
                Offer(booking_id=booking_id, speaker_id=speaker_id, made_by="staff", **values)
            )
            db.session.flush()
        db.session.commit()
        figures = billing(db.session, PERIOD, TODAY)
    assert {k: m.commission for k, m in figures.months["USD"].items()} == {
        "2025-01": D(0),
        "2025-02": D(0),
        "2025-03": D("1250.00"),
    }
