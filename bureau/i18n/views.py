"""The language switcher: one link per language on every page, remembered in a cookie."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response

from bureau.i18n import COOKIE, COOKIE_MAX_AGE, supported
from bureau.urls import safe_next

bp = Blueprint("i18n", __name__)


@bp.get("/language/<code>")
def choose(code: str) -> Response:
    """Switch to ``code`` and go back where the reader was. A GET (a plain link, no form): it
    changes only the reader's own display preference, like a cookie banner's choice."""
    locale = supported(code)
    if locale is None:
        abort(404)
    back = safe_next(request.args.get("next")) or url_for("catalogue.home")
    response = redirect(back, code=303)
    response.set_cookie(
        COOKIE, locale, max_age=COOKIE_MAX_AGE, samesite="Lax", secure=request.is_secure
    )
    return response
