"""Invoices and payments: exact money, gapless numbers, every refusal, statuses, the PDF."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bureau.billing import services, terms
from bureau.billing.errors import BillingRefused
from bureau.billing.models import Invoice, InvoiceCounter, InvoiceKind, Payment
from bureau.billing.money import (
    decimals,
    exact,
    format_money,
    from_minor,
    quantize,
    quantum,
    tax_on,
    to_minor,
)
from bureau.billing.render import invoice_filename, invoice_html, invoice_pdf
from bureau.billing.services import InvoiceStatus, Party
from bureau.bookings.models import BookingRequest, Contract
from bureau.bookings.workflow import ActionError
from bureau.config import ConfigError, load_settings
from bureau.contracts.settings import ContractSettings
from bureau.extensions import db
from bureau.reference import CURRENCIES
from tests.conftest import NEXT_YEAR
from tests.workflow_helpers import submit_and_route

ISSUER = Party("Example Speakers Ltd", "1 Example Street\nLondon", "GB123456789")
EVENT_DAY = date(NEXT_YEAR, 3, 10)  # valid_request's event, in Shanghai
TODAY = EVENT_DAY - timedelta(days=120)
DECIMALS = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=6)


# --- money -------------------------------------------------------------------------------


def test_currencies_have_their_own_decimals() -> None:
    assert decimals("JPY") == 0
    assert decimals("USD") == 2
    assert decimals("EUR") == 2
    assert format_money(Decimal(500000), "JPY") == "JPY 500,000"
    assert format_money(Decimal("1234.5"), "USD") == "USD 1,234.50"
    assert format_money(Decimal("-20"), "EUR") == "EUR -20.00"


@given(amount=DECIMALS, currency=st.sampled_from(CURRENCIES))
def test_quantize_rounds_to_the_nearest_unit_of_the_currency(
    amount: Decimal, currency: str
) -> None:
    rounded = quantize(amount, currency)
    assert rounded.as_tuple().exponent == -decimals(currency)
    assert abs(rounded - amount) <= quantum(currency) / 2
    assert quantize(rounded, currency) == rounded  # rounding twice changes nothing
    assert exact(rounded, currency) == rounded


@given(units=st.integers(min_value=-(10**9), max_value=10**9), currency=st.sampled_from(CURRENCIES))
def test_halves_round_away_from_zero(units: int, currency: str) -> None:
    half = quantum(currency) / 2
    amount = units * quantum(currency)
    away = Decimal(1 if units >= 0 else -1) * quantum(currency)
    assert quantize(amount + half if units >= 0 else amount - half, currency) == amount + away


@given(amount=DECIMALS, currency=st.sampled_from(CURRENCIES))
def test_minor_units_round_trip(amount: Decimal, currency: str) -> None:
    value = quantize(amount, currency)
    places = decimals(currency)
    assert from_minor(to_minor(value, places), places) == value


@given(
    net=st.decimals(min_value=0, max_value=10**9, allow_nan=False, places=2),
    rate=st.decimals(min_value=0, max_value=100, allow_nan=False, places=2),
    currency=st.sampled_from(CURRENCIES),
)
def test_tax_is_rounded_once_half_up(net: Decimal, rate: Decimal, currency: str) -> None:
    net = quantize(net, currency)
    tax = tax_on(net, rate, currency)
    assert abs(tax - net * rate / 100) <= quantum(currency) / 2
    assert tax.as_tuple().exponent == -decimals(currency)


def test_amounts_finer_than_the_currency_or_floats_are_refused() -> None:
    with pytest.raises(BillingRefused, match="USD amounts have 2 decimals"):
        exact("10.005", "USD")
    with pytest.raises(BillingRefused, match="JPY amounts have no decimals"):
        exact("1.5", "JPY")
    with pytest.raises(BillingRefused, match="must be a number"):
        exact("ten", "USD")
    with pytest.raises(TypeError, match="never a float"):
        quantize(0.1, "USD")  # type: ignore[arg-type]
    assert exact(" 10.50 ", "USD") == Decimal("10.50")
    assert issubclass(BillingRefused, ActionError)
    assert issubclass(BillingRefused, ValueError)


# --- invoices ----------------------------------------------------------------------------


def contracted(app: Flask, currency: str = "USD", fee: int = 12500, deposit: int = 6250) -> int:
    """A routed booking with contract terms; its id."""
    booking = submit_and_route(app, currency=currency, organization="上海零售协会 Retail")
    with app.app_context():
        db.session.add(
            Contract(
                booking_id=booking.id,
                fee=fee,
                currency=currency,
                commission_pct=Decimal(20),
                deposit_amount=deposit,
                deposit_due=TODAY + timedelta(days=14),
            )
        )
        db.session.commit()
    return booking.id


@pytest.fixture
def booking(app: Flask) -> Iterator[BookingRequest]:
    booking_id = contracted(app)
    with app.app_context():
        yield db.session.get(BookingRequest, booking_id)
        db.session.rollback()


def issue(booking: BookingRequest, kind: str = "deposit", **changes: Any) -> Invoice:
    fields: dict[str, Any] = {
        "net": "6250",
        "tax_rate_pct": "20",
        "issuer": ISSUER,
        "issued_on": TODAY,
        "due_on": TODAY + timedelta(days=14),
    }
    fields.update(changes)
    return services.issue_invoice(db.session, booking, kind, **fields)


def counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Invoice)),
        db.session.scalar(select(func.count()).select_from(Payment)),
        db.session.scalar(select(func.coalesce(func.sum(InvoiceCounter.value), 0))),
    )


def test_an_invoice_adds_tax_in_the_currencys_decimals(booking: BookingRequest) -> None:
    invoice = issue(booking, net="1234.56", tax_rate_pct="7.5")
    assert invoice.number == f"INV-{TODAY.year}-00001"
    assert (invoice.net, invoice.tax, invoice.total) == (
        Decimal("1234.56"),
        Decimal("92.59"),  # 92.592 rounded
        Decimal("1327.15"),
    )
    assert invoice.client_organization == "上海零售协会 Retail"
    assert invoice.issuer_tax_number == "GB123456789"
    assert services.balance_due(invoice) == Decimal("1327.15")


def test_yen_have_no_decimals(app: Flask) -> None:
    booking_id = contracted(app, "JPY", fee=1_000_010, deposit=500_005)
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        invoice = services.issue_from_terms(
            db.session,
            booking,
            InvoiceKind.DEPOSIT,
            tax_rate_pct="10",
            issuer=ISSUER,
            issued_on=TODAY,
        )
        assert invoice.net == Decimal(500005)
        assert invoice.tax == Decimal(50001)  # 50000.5, half up
        assert str(invoice.total) == "550006"
        db.session.rollback()


def test_numbers_have_no_gaps_across_rollbacks_and_voids(app: Flask) -> None:
    booking_id = contracted(app)
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        first = issue(booking).number
        db.session.commit()
        issue(booking, "balance")
        db.session.rollback()  # the balance invoice never happened: its number is free again
        booking = db.session.get(BookingRequest, booking_id)
        second = issue(booking, "balance")
        services.void_invoice(db.session, second, reason="Wrong amount")
        db.session.commit()
        third = issue(booking, "balance").number
        db.session.commit()
        year = TODAY.year
        assert [first, second.number, third] == [
            f"INV-{year}-00001",
            f"INV-{year}-00002",
            f"INV-{year}-00003",
        ]
        next_year = issue(
            booking, "cancellation", issued_on=date(year + 1, 1, 2), due_on=date(year + 1, 1, 9)
        )
        assert next_year.number == f"INV-{year + 1}-00001"  # each year counts from one
        db.session.rollback()


def test_the_terms_make_the_deposit_and_the_balance(booking: BookingRequest) -> None:
    deposit = services.issue_from_terms(
        db.session, booking, InvoiceKind.DEPOSIT, tax_rate_pct=0, issuer=ISSUER, issued_on=TODAY
    )
    balance = services.issue_from_terms(
        db.session, booking, InvoiceKind.BALANCE, tax_rate_pct=0, issuer=ISSUER, issued_on=TODAY
    )
    assert (deposit.total, deposit.due_on) == (Decimal("6250.00"), TODAY + timedelta(days=14))
    assert (balance.total, balance.due_on) == (Decimal("6250.00"), EVENT_DAY - timedelta(14))
    late = EVENT_DAY - timedelta(days=3)  # closer than two weeks: due on issue
    assert terms.balance_due(booking, late) == late


@pytest.mark.parametrize(
    ("notice", "kind", "net"),
    [
        (120, InvoiceKind.CREDIT_NOTE, Decimal("-5750.00")),  # deposit refunded less 500 costs
        (90, InvoiceKind.CREDIT_NOTE, Decimal("-5750.00")),
        (89, None, None),  # the deposit is kept: already invoiced
        (30, None, None),
        (29, InvoiceKind.CANCELLATION, Decimal("6250.00")),  # the whole fee is due
        (0, InvoiceKind.CANCELLATION, Decimal("6250.00")),
    ],
)
def test_cancellation_follows_the_schedule(
    booking: BookingRequest, notice: int, kind: InvoiceKind | None, net: Decimal | None
) -> None:
    issue(booking, tax_rate_pct=0)  # the deposit, 6,250
    cancelled_on = EVENT_DAY - timedelta(days=notice)
    result = services.issue_cancellation(
        db.session,
        booking,
        cancelled_on=cancelled_on,
        tax_rate_pct="20",
        issuer=ISSUER,
        costs="500",
    )
    if kind is None:
        assert result is None
        return
    assert result is not None
    assert (result.kind, result.net) == (kind, net)
    assert result.total == quantize(net * Decimal("1.2"), "USD")
    expected = InvoiceStatus.CREDIT if kind is InvoiceKind.CREDIT_NOTE else InvoiceStatus.OPEN
    assert services.invoice_status(result, cancelled_on) == expected


def test_the_bureaus_own_schedule_and_balance_days_make_the_invoices(
    app: Flask, booking: BookingRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One schedule in the code: BUREAU_CANCELLATION_SCHEDULE and BUREAU_BALANCE_DUE_DAYS
    (the contracts' settings, which the agreement states) make the billing's amounts."""
    own = ContractSettings(cancellation_schedule="60=50%,0=fee", balance_due_days=30)
    monkeypatch.setitem(
        app.config, "BUREAU_SETTINGS", replace(app.config["BUREAU_SETTINGS"], contracts=own)
    )
    assert terms.balance_due(booking, TODAY) == EVENT_DAY - timedelta(days=30)
    kept = terms.kept_on_cancellation(booking, EVENT_DAY - timedelta(days=61))
    assert (kept.amount, kept.rule) == (
        Decimal("6250.00"),
        "61 days' notice: 50% of the fee is due",
    )
    assert terms.kept_on_cancellation(booking, EVENT_DAY - timedelta(days=59)).amount == Decimal(
        "12500.00"
    )


def test_a_cancellation_credits_a_balance_invoiced_too_early(booking: BookingRequest) -> None:
    issue(booking, tax_rate_pct=0)
    issue(booking, "balance", tax_rate_pct=0)
    credit = services.issue_cancellation(
        db.session,
        booking,
        cancelled_on=EVENT_DAY - timedelta(days=60),
        tax_rate_pct=0,
        issuer=ISSUER,
    )
    assert credit is not None
    assert credit.net == Decimal("-6250.00")


# --- refusals: a clear message, nothing changed -------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"net": "0"}, "above zero"),
        ({"net": "-10"}, "above zero"),
        ({"net": "10.001"}, "too many decimals"),
        ({"tax_rate_pct": "100.01"}, "between 0 and 100"),
        ({"tax_rate_pct": "-1"}, "between 0 and 100"),
        ({"tax_rate_pct": "NaN"}, "between 0 and 100"),
        ({"tax_rate_pct": "7.125"}, "two decimals"),
        ({"due_on": TODAY - timedelta(days=1)}, "before the issue date"),
        ({"issuer": Party(" ")}, "BUREAU_LEGAL_NAME"),
    ],
)
def test_bad_invoices_are_refused(
    booking: BookingRequest, changes: dict[str, Any], message: str
) -> None:
    before = counts()
    with pytest.raises(BillingRefused, match=message):
        issue(booking, **changes)
    assert counts() == before


def test_a_second_live_deposit_invoice_is_refused(booking: BookingRequest) -> None:
    first = issue(booking)
    before = counts()
    with pytest.raises(BillingRefused, match=f"already has a deposit invoice, {first.number}"):
        issue(booking)
    assert counts() == before
    services.void_invoice(db.session, first, reason="Client's name misspelt")
    assert issue(booking).number != first.number


def pay(invoice: Invoice, amount: str, currency: str = "USD", **changes: Any) -> Payment:
    fields: dict[str, Any] = {"paid_on": TODAY, "method": "bank_transfer", "today": TODAY}
    fields.update(changes)
    return services.record_payment(db.session, invoice, amount=amount, currency=currency, **fields)


@pytest.mark.parametrize(
    ("amount", "currency", "changes", "message"),
    [
        ("100", "EUR", {}, "is in USD; a payment in EUR cannot be recorded"),
        ("0", "USD", {}, "above zero"),
        ("-5", "USD", {}, "above zero"),
        ("7500.01", "USD", {}, r"USD 7,500.01 is more than the USD 7,500.00 still due"),
        ("10.005", "USD", {}, "too many decimals"),
        ("10", "USD", {"method": "barter"}, "Unknown payment method"),
        ("10", "USD", {"paid_on": TODAY + timedelta(days=1)}, "in the future"),
    ],
)
def test_bad_payments_are_refused(
    booking: BookingRequest, amount: str, currency: str, changes: dict[str, Any], message: str
) -> None:
    invoice = issue(booking)  # 6,250 + 20 % = 7,500
    before = counts()
    with pytest.raises(BillingRefused, match=message):
        pay(invoice, amount, currency, **changes)
    assert counts() == before
    assert invoice.paid == 0


def test_overpaying_in_parts_is_refused_too(booking: BookingRequest) -> None:
    invoice = issue(booking)
    pay(invoice, "7000")
    with pytest.raises(BillingRefused, match=r"USD 501\.00 is more than the USD 500\.00 still due"):
        pay(invoice, "501")
    assert invoice.paid == Decimal("7000.00")


def test_void_invoices_take_no_payment_and_paid_ones_cannot_be_voided(
    booking: BookingRequest,
) -> None:
    invoice = issue(booking)
    with pytest.raises(BillingRefused, match="Say why"):
        services.void_invoice(db.session, invoice, reason="  ")
    pay(invoice, "100")
    with pytest.raises(BillingRefused, match="issue a credit note instead"):
        services.void_invoice(db.session, invoice, reason="Mistake")
    balance = issue(booking, "balance")
    services.void_invoice(db.session, balance, reason="Issued too early")
    with pytest.raises(BillingRefused, match="already void"):
        services.void_invoice(db.session, balance, reason="Again")
    with pytest.raises(BillingRefused, match="is void"):
        pay(balance, "100")
    credit = issue(booking, "credit_note", net="100")
    with pytest.raises(BillingRefused, match="credit note"):
        pay(credit, "100")


def test_a_booking_without_terms_cannot_be_invoiced_from_them(app: Flask) -> None:
    booking = submit_and_route(app)
    with app.app_context():
        row = db.session.get(BookingRequest, booking.id)
        with pytest.raises(BillingRefused, match="no contract terms yet"):
            services.issue_from_terms(
                db.session, row, InvoiceKind.DEPOSIT, tax_rate_pct=0, issuer=ISSUER, issued_on=TODAY
            )


# --- statuses ----------------------------------------------------------------------------


def test_an_invoice_is_open_partly_paid_paid_overdue_or_void(booking: BookingRequest) -> None:
    invoice = issue(booking)  # 7,500 due in 14 days
    due = invoice.due_on
    assert services.invoice_status(invoice, TODAY) == InvoiceStatus.OPEN
    assert services.invoice_status(invoice, due) == InvoiceStatus.OPEN
    assert services.invoice_status(invoice, due + timedelta(days=1)) == InvoiceStatus.OVERDUE
    pay(invoice, "2500", method="card", reference="ch_123")
    assert services.invoice_status(invoice, TODAY) == InvoiceStatus.PARTLY_PAID
    assert services.invoice_status(invoice, due + timedelta(days=1)) == InvoiceStatus.OVERDUE
    assert services.balance_due(invoice) == Decimal("5000.00")
    pay(invoice, "5000")
    assert services.invoice_status(invoice, due + timedelta(days=30)) == InvoiceStatus.PAID
    assert services.balance_due(invoice) == 0
    other = issue(booking, "balance")
    services.void_invoice(db.session, other, reason="Cancelled")
    assert services.invoice_status(other, TODAY) == InvoiceStatus.VOID
    assert services.balance_due(other) == 0


# --- paper -------------------------------------------------------------------------------


def test_the_pdf_says_who_owes_what(booking: BookingRequest, tmp_path: Path) -> None:
    invoice = issue(
        booking,
        net="1234.56",
        tax_rate_pct="7.5",
        client=Party("上海零售协会", "88 Century Avenue\nShanghai", "91310000MA1FL0001X"),
    )
    pay(invoice, "327.15")
    html = invoice_html(invoice, TODAY)
    assert "Deposit invoice INV-" in html
    assert "Tax at 7.5 %" in html
    path = tmp_path / invoice_filename(invoice)
    path.write_bytes(invoice_pdf(invoice, TODAY))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for words in (
        invoice.number,
        "Example Speakers Ltd",
        "GB123456789",
        "上海零售协会",
        "91310000MA1FL0001X",
        "USD 1,234.56",
        "USD 92.59",
        "USD 1,327.15",
        "USD 1,000.00",  # the balance due after the payment
        "partly paid",
    ):
        assert words in text, words


# --- settings ----------------------------------------------------------------------------


def test_the_legal_details_come_from_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_LEGAL_NAME": "Example Speakers Ltd",
            "BUREAU_LEGAL_ADDRESS": "1 Example Street; London EC1A 1AA",
            "BUREAU_TAX_NUMBER": "GB123456789",
            "BUREAU_TAX_RATE": "7.5",
        }
    )
    assert services.issuer_from(settings) == Party(
        "Example Speakers Ltd", "1 Example Street\nLondon EC1A 1AA", "GB123456789"
    )
    assert settings.tax_rate == Decimal("7.50")
    assert load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path)}).tax_rate == 0


@pytest.mark.parametrize("rate", ["101", "-1", "ten", "7.125", "inf"])
def test_a_bad_tax_rate_setting_stops_start_up(tmp_path: Path, rate: str) -> None:
    with pytest.raises(ConfigError, match="BUREAU_TAX_RATE must be a percentage from 0 to 100"):
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_TAX_RATE": rate})


# --- PostgreSQL: concurrent issuers ------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_issuers_get_unique_gapless_numbers(postgres_app: Flask) -> None:
    """Eight sessions issue at once (one of them rolls back): numbers 1 to 7, each once."""
    app = postgres_app
    booking_id = contracted(app)
    with app.app_context():
        engine = db.engine
    start = threading.Barrier(8)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def issuer(index: int) -> None:
        with app.app_context(), Session(engine) as session:
            try:
                row = session.get(BookingRequest, booking_id)
                start.wait(10)
                invoice = services.issue_invoice(
                    session,
                    row,
                    InvoiceKind.CANCELLATION,
                    net=f"{100 + index}",
                    tax_rate_pct=0,
                    issuer=ISSUER,
                    issued_on=TODAY,
                    due_on=TODAY,
                )
                if index == 3:
                    session.rollback()  # its number goes back to the next one
                    return
                session.commit()
                numbers.append(invoice.number)
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)

    threads = [threading.Thread(target=issuer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(numbers) == [f"INV-{TODAY.year}-{n:05d}" for n in range(1, 8)]
