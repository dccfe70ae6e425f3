"""Staff sign-in: argon2 passwords, a pause after repeated failures per (email, client
address), role checks."""

from __future__ import annotations

import functools
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import LoginManager, current_user, login_required
from sqlalchemy import delete, func, select

from bureau.db import AnySession, utcnow
from bureau.errors import ADMINS_ONLY
from bureau.extensions import db
from bureau.staff.models import Role, SignInFailure, StaffMember

# Five wrong passwords for one email from one client address within LOCKOUT pause that pair
# until the oldest of the five is LOCKOUT old; other addresses keep signing in.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
WRONG = "Email or password is not right."  # in English; the page says it in its language

hasher = PasswordHasher()
login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = _l("Please sign in to see the staff pages.")
login_manager.session_protection = "strong"

F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_staff(session_id: str) -> StaffMember | None:
    staff_id, _, version = session_id.partition(":")
    if not staff_id.isdigit():
        return None
    member = db.session.get(StaffMember, int(staff_id))
    if member is None or not member.is_active or str(member.session_version) != version:
        return None
    return member


def hash_password(password: str) -> str:
    return hasher.hash(password)


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return str(_("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH))
    if len(password) > 1024:
        return str(_("Use at most %(count)s characters.", count=1024))
    return None


def find_by_email(session: AnySession, email: str) -> StaffMember | None:
    return session.scalars(
        select(StaffMember).where(func.lower(StaffMember.email) == email.strip().lower())
    ).one_or_none()


class LoginRefused(Exception):
    pass


class Throttled(LoginRefused):
    """Too many recent failures for this email from this client address."""


# The clock sign-in and sessions read: tests move it instead of sleeping.
clock: Callable[[], datetime] = utcnow


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown addresses: the same argon2 work as a real check."""
    return hasher.hash(secrets.token_urlsafe(32))


def _throttle_wait(session: AnySession, email: str, client: str, now: datetime) -> timedelta:
    """How long (email, client) must wait before the next try; zero when it may try now."""
    recent = session.scalars(
        select(SignInFailure.at)
        .where(
            SignInFailure.email == email,
            SignInFailure.client == client,
            SignInFailure.at > now - LOCKOUT,
        )
        .order_by(SignInFailure.at.desc())
        .limit(MAX_FAILED_LOGINS)
    ).all()
    if len(recent) < MAX_FAILED_LOGINS:
        return timedelta(0)
    return recent[-1] + LOCKOUT - now


def authenticate(session: AnySession, email: str, password: str, *, client: str) -> StaffMember:
    """The staff member with these credentials, or LoginRefused with a message to show.

    Failures are counted per (email, client address), for unknown addresses too, so every
    answer is the same whether the account exists, and guessing from one place does not lock
    the owner out from another. While paused, no password is checked.
    """
    now = clock()
    email, client = email.strip().lower()[:254], (client or "unknown")[:64]
    wait = _throttle_wait(session, email, client, now)
    if wait > timedelta(0):
        minutes = math.ceil(wait.total_seconds() / 60)
        raise Throttled(
            ngettext(
                "Too many failed sign-ins with this email from your address; "
                "try again in %(num)d minute.",
                "Too many failed sign-ins with this email from your address; "
                "try again in %(num)d minutes.",
                minutes,
            )
        )
    member = find_by_email(session, email)
    stored = member.password_hash if member is not None and member.is_active else None
    try:
        # Unknown addresses verify against a dummy hash: the same work, no timing hint.
        hasher.verify(stored or _dummy_hash(), password)
        right = stored is not None
    except (VerificationError, InvalidHashError):
        right = False
    if not right or member is None or stored is None:
        session.add(SignInFailure(email=email, client=client, at=now))
        session.execute(delete(SignInFailure).where(SignInFailure.at <= now - LOCKOUT))
        session.commit()
        raise LoginRefused(_("Email or password is not right."))
    session.execute(
        delete(SignInFailure).where(SignInFailure.email == email, SignInFailure.client == client)
    )
    if hasher.check_needs_rehash(stored):
        member.password_hash = hash_password(password)
    session.commit()
    return member


def forget_failures(session: AnySession, email: str) -> None:
    """Lift every pause on this email (a password reset by an operator)."""
    session.execute(delete(SignInFailure).where(SignInFailure.email == email.strip().lower()))


def client_address() -> str:
    """The requesting client's address (behind BUREAU_PROXIES, the forwarded one)."""
    return request.remote_addr or "unknown"


def password_problem_for_current(password: str) -> str | None:
    """None when ``password`` is the signed-in member's; else what to tell them. Asked again
    before the gravest actions, so a session left open is not enough to take them."""
    try:
        authenticate(db.session, current_user.email, password, client=client_address())
    except Throttled as refused:
        return str(refused)
    except LoginRefused:
        return str(_("That is not your password."))
    return None


def end_sessions(member: StaffMember) -> None:
    """Every session of the member ends, a copy of its cookie taken earlier too; call
    login_user again for the one that stays."""
    member.session_version = (member.session_version or 0) + 1


def set_password(member: StaffMember, password: str) -> None:
    member.password_hash = hash_password(password)
    end_sessions(member)


def admin_required(view: F) -> F:
    @functools.wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != Role.ADMIN:
            abort(403, ADMINS_ONLY)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def guard_staff_pages(
    bp: Blueprint, *, admins_only: bool = False, open_endpoints: tuple[str, ...] = ()
) -> None:
    """Every page of ``bp`` needs a signed-in staff member (an admin with ``admins_only``)
    and is never cached: the one guard of every /staff blueprint."""

    @bp.before_request
    def _signed_in() -> ResponseReturnValue | None:
        if request.endpoint in open_endpoints:
            return None
        if not current_user.is_authenticated:
            return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
        if admins_only and not current_user.is_admin:
            abort(403, ADMINS_ONLY)
        return None

    @bp.after_request
    def _no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response
