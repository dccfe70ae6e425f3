"""Staff sessions end BUREAU_SESSION_HOURS after sign-in and BUREAU_SESSION_IDLE_MINUTES
after the last request, checked on every request from stamps in the signed session cookie
(a copy of the cookie carries the same stamps, so it ends too)."""

from __future__ import annotations

from flask import Flask, flash, request, session
from flask_babel import gettext as _
from flask_login import logout_user

from bureau.staff import auth

SIGNED_IN_AT = "bureau_signed_in_at"
SEEN_AT = "bureau_seen_at"


def start_session() -> None:
    """Call right after login_user: the session's clocks start now."""
    now = int(auth.clock().timestamp())
    session.permanent = True  # the cookie expires too (PERMANENT_SESSION_LIFETIME)
    session[SIGNED_IN_AT] = session[SEEN_AT] = now


def init_sessions(app: Flask) -> None:
    settings = app.config["BUREAU_SETTINGS"]
    longest, idle = settings.session_hours * 3600, settings.session_idle_minutes * 60

    @app.before_request
    def _end_expired_sessions() -> None:
        if "_user_id" not in session or request.endpoint == "static":
            return
        now = int(auth.clock().timestamp())
        started, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
        if not isinstance(started, int) or not isinstance(seen, int):
            reason = _("Please sign in again.")
        elif now - started >= longest:
            reason = _(
                "Sessions end after %(hours)s hours; please sign in again.",
                hours=settings.session_hours,
            )
        elif now - seen >= idle:
            reason = _(
                "You were signed out after %(minutes)s minutes without activity; "
                "please sign in again.",
                minutes=settings.session_idle_minutes,
            )
        else:
            session[SEEN_AT] = now
            return
        logout_user()
        session.pop(SIGNED_IN_AT, None)
        session.pop(SEEN_AT, None)
        flash(reason, "info")
