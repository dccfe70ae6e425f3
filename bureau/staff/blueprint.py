"""The back office's one blueprint: every staff feature registers its pages on it."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, ActorKind
from bureau.staff.auth import guard_staff_pages

bp = Blueprint("staff", __name__, url_prefix="/staff")


guard_staff_pages(bp, open_endpoints=("staff.login",))


def staff_actor() -> Actor:
    return Actor(ActorKind.STAFF, current_user.name, current_user.id)


def may_act(booking: BookingRequest) -> bool:
    """Admins act on every request; agents on those assigned to them."""
    return bool(current_user.is_admin or booking.assigned_staff_id == current_user.id)
