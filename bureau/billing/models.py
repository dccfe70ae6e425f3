"""Invoices, their payments, the per-year counter that numbers invoices without gaps, and
the speakers' payout statements.

Amounts are stored as whole numbers of the currency's smallest unit (cents; yen) with the
invoice's number of decimals beside them: exact on SQLite and PostgreSQL alike, and read back
as ``Decimal`` through the properties. An invoice is never deleted or edited once issued:
it is voided (with a reason) and, where money changes hands the other way, a credit note is
issued. The parties' names and addresses are copied onto it, as printed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bureau.billing.money import from_minor
from bureau.bookings.models import BookingRequest
from bureau.catalogue.models import Speaker
from bureau.counters import YearCounter
from bureau.db import Base, utcnow
from bureau.staff.models import StaffMember


class InvoiceKind(StrEnum):
    DEPOSIT = "deposit"
    BALANCE = "balance"
    CANCELLATION = "cancellation"
    CREDIT_NOTE = "credit_note"


# Shown in the reader's language (an invoice's title is words, its kind is the code).
KIND_TITLES = {
    InvoiceKind.DEPOSIT: _l("Deposit invoice"),
    InvoiceKind.BALANCE: _l("Balance invoice"),
    InvoiceKind.CANCELLATION: _l("Cancellation invoice"),
    InvoiceKind.CREDIT_NOTE: _l("Credit note"),
}


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"
    CHEQUE = "cheque"
    CASH = "cash"
    OTHER = "other"


class InvoiceCounter(YearCounter, Base):
    """The last invoice number handed out per year (INV-2027-00042), by bureau/counters.py."""

    __tablename__ = "invoice_counters"


class Invoice(Base):
    """One invoice (or credit note, whose amounts are negative) for a booking."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate"),
        CheckConstraint("decimals BETWEEN 0 AND 4", name="decimals"),
        CheckConstraint("total_minor = net_minor + tax_minor", name="total"),
        CheckConstraint(
            "(kind = 'credit_note' AND net_minor < 0) OR (kind != 'credit_note' AND net_minor > 0)",
            name="sign",
        ),
        CheckConstraint("due_on >= issued_on", name="due_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking_requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    issued_on: Mapped[date]
    due_on: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    decimals: Mapped[int]
    net_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # The client as it stands on the invoice (given when the contract is accepted).
    client_organization: Mapped[str] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(Text)
    client_tax_number: Mapped[str | None] = mapped_column(String(60))
    # The bureau's legal details (BUREAU_LEGAL_NAME, …) when the invoice was issued.
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_address: Mapped[str | None] = mapped_column(Text)
    issuer_tax_number: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(1000))

    booking: Mapped[BookingRequest] = relationship()
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", order_by="(Payment.paid_on, Payment.id)"
    )

    @property
    def net(self) -> Decimal:
        return from_minor(self.net_minor, self.decimals)

    @property
    def tax(self) -> Decimal:
        return from_minor(self.tax_minor, self.decimals)

    @property
    def total(self) -> Decimal:
        return from_minor(self.total_minor, self.decimals)

    @property
    def paid(self) -> Decimal:
        return from_minor(sum(p.amount_minor for p in self.payments), self.decimals)

    @property
    def title(self) -> str:
        return str(KIND_TITLES[InvoiceKind(self.kind)])


class Payment(Base):
    """Money received against an invoice, as staff recorded it."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date]
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")
    recorded_by: Mapped[StaffMember | None] = relationship()

    @property
    def amount(self) -> Decimal:
        return from_minor(self.amount_minor, self.invoice.decimals)


class PayoutStatement(Base):
    """What the bureau owes a speaker for one engagement: the contract's fee less its
    commission, due some days after the event (BUREAU_PAYOUT_DAYS). One per booking and
    speaker, made when the booking is completed; staff record when it was paid."""

    __tablename__ = "payout_statements"
    __table_args__ = (
        UniqueConstraint("booking_id", "speaker_id"),
        CheckConstraint("commission_pct >= 0 AND commission_pct <= 100", name="commission_pct"),
        CheckConstraint("decimals BETWEEN 0 AND 4", name="decimals"),
        CheckConstraint("fee_minor >= 0 AND commission_minor >= 0", name="amounts"),
        CheckConstraint("net_minor = fee_minor - commission_minor", name="net"),
        CheckConstraint("due_on >= event_on", name="due_after_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking_requests.id"), index=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    decimals: Mapped[int]
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    commission_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    commission_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    event_on: Mapped[date]
    due_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once, when staff record the transfer: the day it was paid and their reference.
    paid_on: Mapped[date | None]
    paid_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    paid_recorded_at: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(200))

    booking: Mapped[BookingRequest] = relationship()
    speaker: Mapped[Speaker] = relationship()
    paid_by: Mapped[StaffMember | None] = relationship()

    @property
    def fee(self) -> Decimal:
        return from_minor(self.fee_minor, self.decimals)

    @property
    def commission(self) -> Decimal:
        return from_minor(self.commission_minor, self.decimals)

    @property
    def net(self) -> Decimal:
        return from_minor(self.net_minor, self.decimals)

    @property
    def is_paid(self) -> bool:
        return self.paid_on is not None
