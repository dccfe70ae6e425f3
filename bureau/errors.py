"""Error pages and JSON errors: plain words, no stack traces, JSON under /api/; inside the
staff area the staff layout and what to do next."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood."),
    404: _l("There is nothing at this address."),
    405: _l("This address does not accept that method."),
    413: _l("The request is too large."),
    429: _l("Too many requests from your address. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. Nothing you sent was lost; please try again."),
}


# Why a staff member was refused: the description admin-only pages abort with.
# The English is the key pages abort with; the reader is shown ADMINS_ONLY_WORDS.
ADMINS_ONLY = "Only admins can see or do this."
ADMINS_ONLY_WORDS = _l("Only admins can see or do this.")

# In the staff area (/staff/…) a signed-in staff member keeps the staff navigation and is
# told what to do next: (headline, advice) by status code and by what refused or what the
# address names.
STAFF_MESSAGES: dict[tuple[int, str], tuple[Any, Any]] = {
    (404, "booking_id"): (
        _l("No request with that number."),
        _l("Check the address, or search for the request by its reference or organization."),
    ),
    (404, "notification_id"): (
        _l("No email with that number in the mail log."),
        _l("The mail log lists every email the bureau sent."),
    ),
    (404, ""): (_l("There is nothing at this address in the staff area."), ""),
    (403, ADMINS_ONLY): (
        ADMINS_ONLY_WORDS,
        _l("Ask an admin, or sign out and sign in as an admin."),
    ),
    (403, "booking_id"): (
        _l("Only the agent assigned to this request, or an admin, can do that."),
        _l("Ask an admin to reassign the request to you."),
    ),
    (403, "notification_id"): (
        _l("Only the agent assigned to this email's request, or an admin, can see it."),
        _l("Ask an admin, or sign out and sign in as the assigned agent."),
    ),
    (403, ""): (ADMINS_ONLY_WORDS, _l("Ask an admin, or sign out and sign in as an admin.")),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _in_staff_area() -> bool:
    return request.path == "/staff" or request.path.startswith("/staff/")


def _staff_words(code: int, message: str, reason: str) -> tuple[str, str]:
    """What a staff error page says: why it was refused, else about the request or email
    the address names, else about the page."""
    names = request.view_args or {}
    named = [name for name in ("booking_id", "notification_id") if name in names]
    for subject in (reason, *named, ""):
        if (code, subject) in STAFF_MESSAGES:
            headline, advice = STAFF_MESSAGES[(code, subject)]
            return str(headline), str(advice)
    return message, ""


def error_page(code: int, message: str, reason: str = "") -> Response:
    """The HTML error page: inside the staff area, for a signed-in staff member, with the
    staff navigation and what to do next; elsewhere (and for a 500, when the database may
    be what failed) the public page."""
    if code != 500 and _in_staff_area():
        try:
            if current_user.is_authenticated:
                headline, advice = _staff_words(code, message, reason)
                html = render_template("errors/staff.html", message=headline, advice=advice)
                response = make_response(html, code)
                response.headers["Cache-Control"] = "no-store"
                return response
        except Exception:  # the staff page failed: the public one still answers
            logger.exception("staff error page failed on %s", request.path)
    return make_response(render_template("errors/error.html", code=code, message=message), code)


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        code = error.code or 500
        known = MESSAGES.get(code)
        message = str(known) if known is not None else error.description or _("Error")
        if code == 429:
            message = _(
                "%(message)s (limit: %(limit)s)",
                message=MESSAGES[429],
                limit=error.description,
            )
        if _wants_json():
            response = jsonify({"errors": {"_": [message]}})
            response.status_code = code
        else:
            response = error_page(code, message, str(error.description or ""))
        for name, value in error.get_headers():
            if name in ("Retry-After", "Allow"):
                response.headers[name] = value
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        message = _(
            "Your form expired or came from elsewhere. Please reload the page and try again."
        )
        return error_page(400, message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return http_error(InternalServerError())
