"""Agreement templates, the contract versions sent to an organizer, and their acceptance.

A version keeps the exact HTML it was sent with and the SHA-256 of that text; the organizer
accepts that hash, so what they agreed to can be shown to be unchanged. Versions belong to the
booking, not to its ``Contract`` terms row (which staff replace when they amend the terms).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bureau.db import Base, utcnow
from bureau.staff.models import StaffMember

NAME_MAX = 120
ORGANIZATION_MAX = 200
ADDRESS_MAX = 500
TAX_NUMBER_MAX = 50
REASON_MAX = 1000
USER_AGENT_MAX = 500


class VersionStatus(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    VOID = "void"


class AgreementTemplate(Base):
    """A Jinja text admins edit; the active one makes every new contract version."""

    __tablename__ = "agreement_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)

    edited_by: Mapped[StaffMember | None] = relationship()


class ContractVersion(Base):
    """One rendering of a booking's agreement, numbered from 1, as it was sent."""

    __tablename__ = "contract_versions"
    __table_args__ = (
        UniqueConstraint("booking_id", "number"),
        CheckConstraint("status IN ('sent', 'accepted', 'declined', 'void')", name="status"),
        CheckConstraint("length(sha256) = 64", name="sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    html: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=VersionStatus.SENT)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreement_templates.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    voided_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    # The bureau's countersignature, after the organizer accepted.
    countersigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    countersigned_by_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    countersigned_at: Mapped[datetime | None]

    acceptance: Mapped[Acceptance | None] = relationship(
        back_populates="version", cascade="all, delete-orphan", passive_deletes=True
    )
    countersigned_by: Mapped[StaffMember | None] = relationship()


class Acceptance(Base):
    """The organizer's click-to-accept of one version, with the evidence kept for it, and the
    billing details invoices need. Personal data: exported and erased with the booking's."""

    __tablename__ = "contract_acceptances"
    __table_args__ = (
        CheckConstraint("on_behalf", name="on_behalf"),
        CheckConstraint("length(version_sha256) = 64", name="version_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("contract_versions.id", ondelete="CASCADE"), unique=True
    )
    full_name: Mapped[str] = mapped_column(String(NAME_MAX))
    organization: Mapped[str] = mapped_column(String(ORGANIZATION_MAX))
    on_behalf: Mapped[bool] = mapped_column(Boolean)
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_address: Mapped[str] = mapped_column(String(45))  # IPv4 or IPv6
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX))
    version_sha256: Mapped[str] = mapped_column(String(64))
    # For the invoices: the client's postal address and tax number (VAT, GST, …), if any.
    billing_address: Mapped[str] = mapped_column(String(ADDRESS_MAX))
    tax_number: Mapped[str | None] = mapped_column(String(TAX_NUMBER_MAX))

    version: Mapped[ContractVersion] = relationship(back_populates="acceptance")
