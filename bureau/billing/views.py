"""The speaker's payout statements, reached through a signed link (no account needed)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from bureau.billing.payouts import read_statements_token, statements_of_speaker
from bureau.catalogue.models import Speaker
from bureau.db import utcnow
from bureau.extensions import db
from bureau.signed_links import LinkProblem, not_valid

bp = Blueprint("billing", __name__)
# Nobody's statements in a shared cache, nor the link in another site's Referer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/speaker/payouts/<token>")
def payouts(token: str) -> ResponseReturnValue:
    """Every statement of the speaker the link names, and only theirs."""
    try:
        speaker = db.session.get(Speaker, read_statements_token(token))
        if speaker is None:
            raise LinkProblem(not_valid())
    except LinkProblem as problem:
        return render_template("billing/payouts.html", problem=str(problem)), 404, PRIVATE
    statements = statements_of_speaker(db.session, speaker.id)
    return (
        render_template(
            "billing/payouts.html",
            speaker=speaker,
            statements=statements,
            today=utcnow().date(),
        ),
        200,
        PRIVATE,
    )
