"""Booking requests, their requested speakers, and the append-only audit timeline."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from bureau.bookings.states import CLOSED_STATES, Status
from bureau.catalogue.models import Speaker
from bureau.columns import (
    CountryCode,
    CreatedAt,
    CurrencyCode,
    LocaleCode,
    TimeZoneName,
    UpdatedAt,
    ends_after_start,
)
from bureau.counters import YearCounter
from bureau.db import Base
from bureau.staff.models import StaffMember

MAX_REQUESTED_SPEAKERS = 3
# The closed states as SQL, for the partial index of the closed queue (migration 0025).
CLOSED_WHERE = "status IN ({})".format(", ".join(sorted(f"'{s.value}'" for s in CLOSED_STATES)))
# Assigned, and nobody on the staff has acted on it yet: workflow.keep_facts sets
# first_response_at with the staff's first timeline entry (reminders.awaiting_first_action).
AWAITING_WHERE = f"status = '{Status.ASSIGNED.value}' AND first_response_at IS NULL"
# What the insights read of each request of a cohort besides created_at (migration 0026).
INSIGHTS_COLUMNS = (
    "assigned_staff_id",
    "status",
    "funnel_stage",
    "first_response_at",
    "first_confirmed_at",
    "sla_breached",
)


class BookingRequest(Base):
    """An organizer's request to book one of up to three speakers for an event.

    Event times are kept twice: the local wall time with its IANA zone as the organizer gave
    it (``starts_local`` + ``timezone``), and the instant in UTC for ordering and checks.
    ``version`` is SQLAlchemy's optimistic lock: an UPDATE from a stale copy fails.
    """

    __tablename__ = "booking_requests"
    __table_args__ = (
        ends_after_start(),
        CheckConstraint("audience_size > 0", name="audience_positive"),
        CheckConstraint(
            "budget_min IS NULL OR budget_max IS NULL OR budget_min <= budget_max",
            name="budget_order",
        ),
        CheckConstraint("is_virtual OR (city IS NOT NULL AND country IS NOT NULL)", name="place"),
        Index("ix_booking_requests_queue", "status", "created_at", "id"),
        # The dashboard's default order (newest first) over queues of many states at once;
        # on PostgreSQL it also carries what the insights read of a cohort (submitted in a
        # period), so their figures come from the index alone (an index-only scan).
        Index(
            "ix_booking_requests_created_at_id",
            "created_at",
            "id",
            postgresql_include=list(INSIGHTS_COLUMNS),
        ),
        # Every column the queue counts read: PostgreSQL counts the open requests from the
        # index alone, without visiting the table's pages.
        Index(
            "ix_booking_requests_queue_counts",
            "status",
            "assigned_staff_id",
            "created_at",
            "starts_at",
        ),
        # The closed queue, newest first: without it PostgreSQL walks the newest requests,
        # all open, before the first closed one (tens of thousands at a million requests).
        Index(
            "ix_booking_requests_closed_newest",
            "created_at",
            "id",
            postgresql_where=text(CLOSED_WHERE),
            sqlite_where=text(CLOSED_WHERE),
        ),
        # Exactly the requests awaiting a first action (reminders.awaiting_first_action), by
        # when they were assigned, with the assignee: the Overdue queue's count and the last
        # week's breaches read the index alone (migration 0028).
        Index(
            "ix_booking_requests_awaiting",
            "assigned_at",
            "assigned_staff_id",
            postgresql_where=text(AWAITING_WHERE),
            sqlite_where=text(AWAITING_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(30), default=Status.NEW)
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    # "form:<one-time token>" or "api:<Idempotency-Key>"; a retried submission finds its request.
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(10))

    event_name: Mapped[str] = mapped_column(String(200))
    organization: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(20))
    is_virtual: Mapped[bool] = mapped_column(default=False)
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[CountryCode | None]
    timezone: Mapped[TimeZoneName]
    starts_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    ends_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    audience_size: Mapped[int]
    audience: Mapped[str | None] = mapped_column(String(300))
    budget_min: Mapped[int | None]
    budget_max: Mapped[int | None]
    currency: Mapped[CurrencyCode]
    message: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    # The language the request was filed in: every email to its organizer speaks it.
    locale: Mapped[LocaleCode]

    assigned_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="SET NULL"), index=True
    )
    assigned_at: Mapped[datetime | None]
    # Why the request was declined, withdrawn or cancelled; staff's completion note (the
    # organizer's own rating and comments are OrganizerFeedback).
    closed_reason: Mapped[str | None] = mapped_column(String(1000))
    feedback: Mapped[str | None] = mapped_column(Text)
    # When the organizer's personal data was erased (bureau/privacy/): by an admin or by
    # the retention period. The business facts stay; the contact details are placeholders.
    erased_at: Mapped[datetime | None]
    # Facts of its timeline, so the insights need not read it (docs/topics/insights.md);
    # workflow.note() keeps them as each entry is added: the furthest funnel stage reached
    # (states.FUNNEL_RANK of every state entered, the current one included), the first
    # staff entry at or after submission, the first entry into confirmed, and whether the
    # first-response SLA was breached (reminders' "SLA breached" entry).
    funnel_stage: Mapped[int] = mapped_column(default=0, server_default="0")
    first_response_at: Mapped[datetime | None]
    first_confirmed_at: Mapped[datetime | None]
    sla_breached: Mapped[bool] = mapped_column(default=False, server_default=false())

    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    requested: Mapped[list[RequestedSpeaker]] = relationship(
        back_populates="booking",
        cascade="all, delete-orphan",
        order_by="RequestedSpeaker.preference",
    )
    assigned_staff: Mapped[StaffMember | None] = relationship()
    events: Mapped[list[BookingEvent]] = relationship(
        back_populates="booking", order_by="(BookingEvent.at, BookingEvent.id)"
    )
    shortlist: Mapped[list[ShortlistEntry]] = relationship(
        cascade="all, delete-orphan", order_by="ShortlistEntry.position"
    )
    offers: Mapped[list[Offer]] = relationship(order_by="Offer.id")
    contract: Mapped[Contract | None] = relationship()
    organizer_feedback: Mapped[OrganizerFeedback | None] = relationship(
        back_populates="booking", cascade="all, delete-orphan", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def speakers(self) -> list[Speaker]:
        return [r.speaker for r in self.requested]

    @property
    def offer(self) -> Offer | None:
        """The latest firm offer."""
        return self.offers[-1] if self.offers else None


class RequestedSpeaker(Base):
    __tablename__ = "requested_speakers"
    __table_args__ = (
        UniqueConstraint("booking_id", "speaker_id"),
        CheckConstraint(f"preference BETWEEN 1 AND {MAX_REQUESTED_SPEAKERS}", name="preference"),
    )

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), primary_key=True
    )
    preference: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"), index=True)

    booking: Mapped[BookingRequest] = relationship(back_populates="requested")
    speaker: Mapped[Speaker] = relationship(lazy="joined")


PUBLIC_MESSAGE_MAX = 500  # characters of a timeline entry the organizer reads


class BookingEvent(Base):
    """One entry of a booking's timeline. Rows are only ever added, never changed."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[CreatedAt]
    actor_kind: Mapped[str] = mapped_column(String(20))  # organizer, staff, speaker, system
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    # What the organizer reads on the status page; None keeps the entry staff-only.
    public_message: Mapped[str | None] = mapped_column(String(PUBLIC_MESSAGE_MAX))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    booking: Mapped[BookingRequest] = relationship(back_populates="events")

    @property
    def is_public(self) -> bool:
        return self.public_message is not None


class ReferenceCounter(YearCounter, Base):
    """The last number handed out per year, for references like BR-2027-00042."""

    __tablename__ = "reference_counters"


@event.listens_for(BookingEvent, "before_update")
@event.listens_for(BookingEvent, "before_delete")
def _refuse_timeline_edits(mapper: Mapper[Any], connection: Any, target: BookingEvent) -> None:
    raise ValueError("the booking timeline is append-only")


class ShortlistEntry(Base):
    """A candidate the bureau proposes to the organizer, with the fee it quotes."""

    __tablename__ = "shortlist_entries"
    __table_args__ = (UniqueConstraint("booking_id", "speaker_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"))
    position: Mapped[int]
    fee_quote: Mapped[int]
    currency: Mapped[CurrencyCode]
    home_city: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(String(500))

    speaker: Mapped[Speaker] = relationship(lazy="joined")


class Offer(Base):
    """The organizer's firm offer for one speaker; the speaker's answer is recorded on it."""

    __tablename__ = "offers"
    __table_args__ = (
        ends_after_start(),
        CheckConstraint("fee >= 0", name="fee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"), index=True)
    fee: Mapped[int]
    currency: Mapped[CurrencyCode]
    format: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[TimeZoneName]
    starts_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    ends_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    is_virtual: Mapped[bool] = mapped_column(default=False)
    venue: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[CountryCode | None]
    logistics: Mapped[str | None] = mapped_column(Text)
    made_by: Mapped[str] = mapped_column(String(20))  # organizer or staff
    created_at: Mapped[CreatedAt]
    response: Mapped[str | None] = mapped_column(String(10))  # accepted or declined
    response_reason: Mapped[str | None] = mapped_column(String(1000))
    responded_at: Mapped[datetime | None]

    speaker: Mapped[Speaker] = relationship(lazy="joined")


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("commission_pct >= 0 AND commission_pct <= 100", name="commission"),
        CheckConstraint("deposit_amount >= 0 AND deposit_amount <= fee", name="deposit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), unique=True
    )
    fee: Mapped[int]
    currency: Mapped[CurrencyCode]
    commission_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    deposit_amount: Mapped[int]
    deposit_due: Mapped[date]
    travel_terms: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    @property
    def commission(self) -> int:
        return int(self.fee * self.commission_pct / 100)


RATINGS = range(1, 6)  # 1 (poor) to 5 (excellent)
FEEDBACK_COMMENTS_MAX = 2000


class OrganizerFeedback(Base):
    """The organizer's rating (1-5) and comments after a completed booking: one per booking,
    given once on the status page. Staff's own completion note is ``BookingRequest.feedback``.
    The comments are personal data (exported and erased by bureau/privacy/)."""

    __tablename__ = "organizer_feedback"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), unique=True
    )
    rating: Mapped[int]
    comments: Mapped[str | None] = mapped_column(String(FEEDBACK_COMMENTS_MAX))
    created_at: Mapped[CreatedAt] = mapped_column(index=True)

    booking: Mapped[BookingRequest] = relationship(back_populates="organizer_feedback")
