"""Every table of the application, imported together so the metadata is complete.

Importing a module registers all its tables, the ones not named here too (a speaker's
language and format rows, a booking's organizer feedback)."""

from bureau.billing.models import Invoice, InvoiceCounter, Payment, PayoutStatement
from bureau.bookings.models import (
    BookingEvent,
    BookingRequest,
    Contract,
    Offer,
    ReferenceCounter,
    RequestedSpeaker,
    ShortlistEntry,
)
from bureau.bookings.routing import RoutingRule
from bureau.calendar.busy import Blackout, BusyInterval, CalendarSource
from bureau.calendar.models import Engagement, Hold
from bureau.catalogue.models import Post, PostSpeaker, Speaker, Topic
from bureau.contracts.models import Acceptance, AgreementTemplate, ContractVersion
from bureau.inbound.models import CalendarAnswer, InboundMessage
from bureau.insights.models import InsightsSnapshot
from bureau.limitstore import RateLimitHit
from bureau.mail.models import Notification
from bureau.ops.models import Heartbeat
from bureau.outbox import Job
from bureau.staff.models import SignInFailure, StaffMember

__all__ = [
    "Acceptance",
    "AgreementTemplate",
    "Blackout",
    "BookingEvent",
    "BookingRequest",
    "BusyInterval",
    "CalendarAnswer",
    "CalendarSource",
    "Contract",
    "ContractVersion",
    "Engagement",
    "Heartbeat",
    "Hold",
    "InboundMessage",
    "InsightsSnapshot",
    "Invoice",
    "InvoiceCounter",
    "Job",
    "Notification",
    "Offer",
    "Payment",
    "PayoutStatement",
    "Post",
    "PostSpeaker",
    "RateLimitHit",
    "ReferenceCounter",
    "RequestedSpeaker",
    "RoutingRule",
    "ShortlistEntry",
    "SignInFailure",
    "Speaker",
    "StaffMember",
    "Topic",
]
