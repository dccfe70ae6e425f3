"""Admins connect a speaker's own calendar and keep their blackout periods (on the
speaker's page in the catalogue admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import delete, select

from bureau.calendar import sources
from bureau.calendar.busy import BusyInterval, CalendarSource, blackout_label, upcoming_blackouts
from bureau.calendar.forms import BlackoutForm, CalendarForm, RemoveForm
from bureau.calendar.links import blackout_token
from bureau.calendar.views import remove_requested, save_blackout
from bureau.catalogue.models import Speaker
from bureau.db import AnySession
from bureau.extensions import db
from bureau.staff.auth import guard_staff_pages
from bureau.urls import public_url

bp = Blueprint("own_calendar_admin", __name__, url_prefix="/staff/speakers")


guard_staff_pages(bp, admins_only=True)


def panel(session: AnySession, speaker: Speaker | None, **forms: Any) -> dict[str, Any]:
    """What the speaker's admin page shows of their own calendar and blackout periods."""
    if speaker is None:
        return {}
    source = session.scalars(
        select(CalendarSource).where(CalendarSource.speaker_id == speaker.id)
    ).one_or_none()
    calendar_form = forms.get("calendar_form") or CalendarForm(
        formdata=None,
        kind=source.kind if source else "ics",
        url=source.url if source else "",
        username=source.username if source else "",
    )
    return {
        "own": {
            "source": source,
            "calendar_form": calendar_form,
            "blackout_form": forms.get("blackout_form") or BlackoutForm(formdata=None),
            "remove_form": RemoveForm(formdata=None),
            "blackouts": [
                (b, blackout_label(b, speaker.home_timezone))
                for b in upcoming_blackouts(session, speaker.id)
            ],
            "speaker_link": public_url("own_calendar.blackouts", token=blackout_token(speaker.id)),
        }
    }


def _speaker(speaker_id: int, *, button: bool = False) -> Speaker:
    """The speaker (404 if none); with ``button``, a POST carrying only a valid CSRF token."""
    speaker = db.session.get(Speaker, speaker_id)
    if speaker is None:
        abort(404)
    if button and not RemoveForm().validate_on_submit():
        abort(400)
    return speaker


def _back(speaker: Speaker) -> ResponseReturnValue:
    return redirect(url_for("catalogue_admin.speaker_form", speaker_id=speaker.id) + "#own"), 303


@bp.post("/<id:speaker_id>/calendar")
def connect_calendar(speaker_id: int) -> ResponseReturnValue:
    """Fetch the calendar at once: only one that answers is saved."""
    speaker = _speaker(speaker_id)
    form = CalendarForm()
    if not form.validate_on_submit():
        flash(_("Give the calendar's address."), "danger")
        return _back(speaker)
    try:
        source = sources.connect(
            db.session,
            speaker,
            sources.Connection(
                form.kind.data,
                form.url.data or "",
                (form.username.data or "").strip() or None,
                form.password.data or None,
            ),
        )
    except sources.CalendarProblem as problem:
        db.session.rollback()
        flash(_("The calendar was not connected: %(problem)s", problem=problem), "danger")
        return _back(speaker)
    db.session.commit()
    flash(
        _(
            "%(name)s's calendar is connected: %(result)s.",
            name=speaker.name,
            result=source.last_result,
        ),
        "success",
    )
    return _back(speaker)


@bp.post("/<id:speaker_id>/calendar/fetch")
def fetch_calendar_now(speaker_id: int) -> ResponseReturnValue:
    speaker = _speaker(speaker_id, button=True)
    source_id = db.session.scalar(
        select(CalendarSource.id).where(CalendarSource.speaker_id == speaker.id)
    )
    if source_id is None:
        flash(_("No calendar is connected."), "info")
        return _back(speaker)
    outcome = sources.refresh(db.session, source_id)
    category = "danger" if outcome.startswith("failed") else "success"
    flash(_("Fetched: %(outcome)s.", outcome=outcome), category)
    return _back(speaker)


@bp.post("/<id:speaker_id>/calendar/disconnect")
def disconnect_calendar(speaker_id: int) -> ResponseReturnValue:
    """Forget the calendar, its password and every busy interval it gave."""
    speaker = _speaker(speaker_id, button=True)
    db.session.execute(delete(BusyInterval).where(BusyInterval.speaker_id == speaker.id))
    db.session.execute(delete(CalendarSource).where(CalendarSource.speaker_id == speaker.id))
    db.session.commit()
    flash(
        _("%(name)s's calendar is disconnected; its busy times are gone.", name=speaker.name),
        "info",
    )
    return _back(speaker)


@bp.post("/<id:speaker_id>/blackouts")
def blackouts(speaker_id: int) -> ResponseReturnValue:
    speaker = _speaker(speaker_id, button="remove" in request.form)
    if "remove" in request.form:
        flash(_("Removed.") if remove_requested(speaker) else _("Nothing to remove."), "info")
        return _back(speaker)
    form = BlackoutForm()
    if save_blackout(form, speaker, "staff"):
        flash(_("Blackout period saved."), "success")
    else:
        problems = form.form_errors + [e for errors in form.errors.values() for e in errors]
        said = "; ".join(str(p) for p in problems)
        flash(_("Not saved: %(problems)s", problems=said), "danger")
    return _back(speaker)
