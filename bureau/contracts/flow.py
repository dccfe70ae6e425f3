"""The contract's steps as the pages take them: each service of ``services.py`` plus what the
step implies in the same transaction: the emails (through the outbox, with the PDF), the
deposit invoice on acceptance, and the gate a booking passes before it is confirmed.

Every refusal is raised before anything is written (``ContractRefused``, ``BillingRefused``:
both ``ActionError``); the caller commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bureau.billing.automatic import announce, balance_invoice
from bureau.billing.models import Invoice, InvoiceKind
from bureau.billing.services import (
    InvoiceStatus,
    Party,
    invoice_status,
    invoices_of,
    issue_from_terms,
    issuer_from,
    void_invoice,
)
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import SYSTEM, Actor, note
from bureau.contracts import services
from bureau.contracts.models import REASON_MAX, Acceptance, ContractVersion, VersionStatus
from bureau.contracts.render import ContractRefused
from bureau.contracts.services import current_version, versions_of
from bureau.db import AnySession, utcnow
from bureau.mail.recipients import Addressee, assignee_of, organizer_of, queue_mail
from bureau.staff.models import StaffMember
from bureau.text import clean_line

PAYLOAD_KEY = "contract_version"  # bureau/contracts/attachments.py reads it


def _mail(
    session: AnySession, booking: BookingRequest, template: str, version: ContractVersion
) -> None:
    """The email about ``version``, once per version and reader (its number is the outbox
    key's sequence: sending unchanged terms again queues nothing)."""
    readers: list[Addressee | None] = [organizer_of(booking)]
    if template == "contract_final":
        readers.append(assignee_of(booking))
    for reader in readers:
        queue_mail(
            session, booking, template, reader, sequence=version.number, contract_version=version.id
        )


def numbered(session: AnySession, booking: BookingRequest, number: int) -> ContractVersion | None:
    """Version ``number`` of the booking's contract, if there is one."""
    return session.scalars(
        select(ContractVersion).where(
            ContractVersion.booking_id == booking.id, ContractVersion.number == number
        )
    ).one_or_none()


def send(
    session: AnySession, booking: BookingRequest, *, actor: Actor, now: datetime | None = None
) -> tuple[ContractVersion, bool]:
    """Send the agreement the booking's terms make now; (the version, whether it is new).
    Unchanged terms keep the live version and send nothing again."""
    before = {v.id for v in versions_of(session, booking)}
    version = services.issue_version(session, booking, actor=actor, now=now)
    fresh = version.id not in before
    if fresh:
        _mail(session, booking, "contract_sent", version)
    return version, fresh


@dataclass(frozen=True)
class Signer:
    """What the organizer typed and ticked on the acceptance form, and where it came from."""

    full_name: str
    organization: str
    on_behalf: bool
    billing_address: str
    tax_number: str | None
    sha256: str
    client_address: str
    user_agent: str


def accept(
    session: AnySession,
    version: ContractVersion,
    booking: BookingRequest,
    signer: Signer,
    *,
    now: datetime | None = None,
) -> tuple[Acceptance, Invoice | None]:
    """The organizer accepts ``version``; the deposit invoice is issued to the client they
    named, in the same transaction (none when the deposit is zero), and the balance invoice
    too when the event is already close."""
    acceptance = services.accept(session, version, booking, **asdict(signer), now=now)
    session.flush()
    deposit = deposit_invoice(session, booking, acceptance, now=now)
    balance_invoice(session, booking, now=now)  # when the event is already close
    return acceptance, deposit


def deposit_invoice(
    session: AnySession,
    booking: BookingRequest,
    acceptance: Acceptance,
    *,
    now: datetime | None = None,
) -> Invoice | None:
    """The deposit invoice the accepted terms make. A live one for the same amount stays (a
    re-accepted version with the same deposit); an unpaid one for another amount is voided
    and replaced; one with payments stays for staff to settle with a credit note."""
    contract = booking.contract
    if contract is None or contract.deposit_amount <= 0:
        return None
    settings = current_app.config["BUREAU_SETTINGS"]
    for old in invoices_of(session, booking):
        if old.kind != InvoiceKind.DEPOSIT or old.voided_at is not None:
            continue
        if old.net == contract.deposit_amount or old.payments:
            return old
        void_invoice(session, old, reason=f"Replaced: contract version {acceptance.version.number}")
    invoice = issue_from_terms(
        session,
        booking,
        InvoiceKind.DEPOSIT,
        tax_rate_pct=settings.tax_rate,
        issuer=issuer_from(settings),
        issued_on=(now or utcnow()).date(),
        client=Party(acceptance.organization, acceptance.billing_address, acceptance.tax_number),
    )
    announce(session, booking, invoice, SYSTEM, now)  # the organizer gets it with its PDF
    return invoice


def decline(
    session: AnySession, version: ContractVersion, booking: BookingRequest, *, reason: str
) -> None:
    """The organizer declines ``version``; the assignee is told why, once per version."""
    services.decline(session, version, booking, reason=reason)
    told = {"declined": {"version": version.number, "reason": version.decline_reason}}
    to, number = assignee_of(booking), version.number
    queue_mail(session, booking, "contract_declined", to, sequence=number, facts=told)


def countersign(
    session: AnySession, version: ContractVersion, booking: BookingRequest, *, staff: StaffMember
) -> None:
    """Countersign for the bureau; the final PDF goes to the organizer and the assignee."""
    services.countersign(session, version, booking, staff=staff)
    session.flush()
    _mail(session, booking, "contract_final", version)


def void(
    session: AnySession,
    version: ContractVersion,
    booking: BookingRequest,
    *,
    actor: Actor,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Staff withdraw a version (sent, accepted or declined): it can no longer be accepted."""
    if version.booking_id != booking.id:
        raise ContractRefused("This contract belongs to another booking.")
    if version.status == VersionStatus.VOID:
        raise ContractRefused(f"Version {version.number} is already void.")
    why = clean_line(reason)[:REASON_MAX]
    if not why:
        raise ContractRefused("Say why the contract is void. Nothing was changed.")
    version.status, version.voided_at = VersionStatus.VOID, now or utcnow()
    note(
        session,
        booking,
        actor=actor,
        action="contract voided",
        public_message=_l("Contract version %(number)s was withdrawn.", number=version.number),
        details={"version": version.number, "reason": why},
    )


@dataclass(frozen=True)
class Gate:
    """The sub-steps between the contract terms and confirmation."""

    contract_accepted: bool
    deposit_paid: bool
    version: ContractVersion | None
    deposit: Invoice | None

    @property
    def open(self) -> bool:
        return self.contract_accepted and self.deposit_paid

    def refusal(self, reference: str) -> str | None:
        """Why the booking cannot be confirmed yet, in words (None: it can)."""
        missing = []
        if not self.contract_accepted:
            missing.append("the organizer has not accepted the contract")
        if not self.deposit_paid:
            missing.append("the deposit is not paid")
        if not missing:
            return None
        return (
            f"{reference} cannot be confirmed yet: {' and '.join(missing)}. An admin can "
            "confirm anyway, giving a reason. Nothing was changed."
        )


def gate(session: AnySession, booking: BookingRequest, today: date | None = None) -> Gate:
    """Where the booking stands: its newest version accepted? its deposit invoice paid (no
    deposit asked: paid)?"""
    version = current_version(session, booking)
    accepted = version is not None and version.status == VersionStatus.ACCEPTED
    deposits = [
        i
        for i in invoices_of(session, booking)
        if i.kind == InvoiceKind.DEPOSIT and not i.voided_at
    ]
    deposit = deposits[-1] if deposits else None
    no_deposit = booking.contract is not None and booking.contract.deposit_amount <= 0
    paid = no_deposit or (
        deposit is not None
        and invoice_status(deposit, today or utcnow().date()) == InvoiceStatus.PAID
    )
    return Gate(accepted, paid, version, deposit)
