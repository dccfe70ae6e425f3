"""Staff sign-in: argon2 passwords, lock-out after repeated failures, role checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_required
from sqlalchemy import func, select

from bureau.db import AnySession, utcnow
from bureau.extensions import db
from bureau.staff.models import Role, StaffMember

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12

hasher = PasswordHasher()
login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = "Please sign in to see the staff pages."
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
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    return None


def find_by_email(session: AnySession, email: str) -> StaffMember | None:
    return session.scalars(
        select(StaffMember).where(func.lower(StaffMember.email) == email.strip().lower())
    ).one_or_none()


class LoginRefused(Exception):
    pass


def authenticate(session: AnySession, email: str, password: str) -> StaffMember:
    """The staff member with these credentials, or LoginRefused with a message to show.

    Five failures lock the account for 15 minutes (counted even while locked, so guessing
    on stays locked). The message never tells whether the address exists.
    """
    member = find_by_email(session, email)
    now = utcnow()
    wrong = LoginRefused("Email or password is not right.")
    if member is None or not member.is_active or member.password_hash is None:
        hasher.hash(password)  # the same work either way: no timing hint
        raise wrong
    try:
        hasher.verify(member.password_hash, password)
        right = True
    except (VerificationError, InvalidHashError):
        right = False
    if member.locked_until is not None and member.locked_until > now:
        if not right:  # guessing on while locked keeps the account locked
            member.locked_until = now + LOCKOUT
            session.commit()
        minutes = max(1, int((member.locked_until - now).total_seconds() // 60) + 1)
        raise LoginRefused(
            f"Too many failed sign-ins. This account is locked; try again in {minutes} minutes."
        )
    if not right:
        member.failed_logins += 1
        if member.failed_logins >= MAX_FAILED_LOGINS:
            member.locked_until = now + LOCKOUT
            member.failed_logins = 0
        session.commit()
        raise wrong from None
    member.failed_logins = 0
    member.locked_until = None
    if hasher.check_needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
    session.commit()
    return member


def set_password(member: StaffMember, password: str) -> None:
    member.password_hash = hash_password(password)
    member.session_version = (member.session_version or 0) + 1


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target


def admin_required(view: F) -> F:
    @functools.wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != Role.ADMIN:
            abort(403)
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
            abort(403)
        return None

    @bp.after_request
    def _no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response
