"""Admins find an organizer's personal data by address, download it, or erase it."""

from __future__ import annotations

import logging
import re

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from bureau.bookings.workflow import Actor, ActorKind
from bureau.db import utcnow
from bureau.extensions import db
from bureau.privacy import erasure, lookup
from bureau.privacy import export as personal_export
from bureau.privacy.forms import EraseForm, ExportForm
from bureau.staff.auth import guard_staff_pages, password_problem_for_current

logger = logging.getLogger(__name__)
bp = Blueprint("privacy", __name__, url_prefix="/staff/privacy")


guard_staff_pages(bp, admins_only=True)


def _page(address: str, status: int = 200, erase_form: EraseForm | None = None) -> Response:
    address = lookup.normalise(address)
    bookings = lookup.requests_of(db.session, address) if address else []
    emails = lookup.emails_to(db.session, address) if address else []
    export_form, erase_form = ExportForm(), erase_form or EraseForm()
    export_form.email.data = erase_form.email.data = address
    page = render_template(
        "privacy/index.html",
        address=address,
        bookings=bookings,
        emails=emails,
        export_form=export_form,
        erase_form=erase_form,
        retention_days=current_app.config["BUREAU_SETTINGS"].retention_days,
    )
    return Response(page, status=status)


@bp.get("")
def index() -> ResponseReturnValue:
    return _page(request.args.get("email", "")[:254])


@bp.post("/export")
def export() -> ResponseReturnValue:
    form = ExportForm()
    if not form.validate_on_submit():
        flash(
            _("Say whose data to export: look the address up first. Nothing was exported."),
            "danger",
        )
        return _page("", status=422)
    address = lookup.normalise(form.email.data or "")
    now = utcnow()
    data = personal_export.export(db.session, address, now=now)
    logger.info("personal data of one organizer exported by staff member %s", current_user.id)
    name = re.sub(r"[^a-z0-9]+", "-", address).strip("-") or "organizer"
    return Response(
        personal_export.export_json(data),
        mimetype="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="personal-data-{name}-{now:%Y%m%d-%H%M%S}.json"'
            )
        },
    )


@bp.post("/erase")
def erase() -> ResponseReturnValue:
    form = EraseForm()
    address = lookup.normalise(form.email.data or "")
    if not form.validate_on_submit():
        flash(_("Type the address to confirm the erasure. Nothing was erased."), "danger")
        return _page(address, status=422, erase_form=form)
    if lookup.normalise(form.confirm.data or "") != address:
        flash(
            _("The address you typed does not match the one looked up. Nothing was erased."),
            "danger",
        )
        return _page(address, status=422, erase_form=form)
    refused = password_problem_for_current(form.password.data or "")
    if refused:
        flash(_("%(reason)s Nothing was erased.", reason=refused), "danger")
        return _page(address, status=422, erase_form=form)
    done = erasure.erase(
        db.session,
        address,
        actor=Actor(ActorKind.STAFF, current_user.name, current_user.id),
        mail_folder=current_app.config["BUREAU_SETTINGS"].instance_path / "mail",
    )
    if done.references or done.emails or done.received:
        flash(
            _(
                "Personal data erased: %(requests)s requests (%(references)s), %(emails)s "
                "emails, %(files)s mail files, %(received)s received emails.",
                requests=len(done.references),
                references=", ".join(done.references) or _("none"),
                emails=done.emails,
                files=done.removed,
                received=done.received,
            ),
            "success",
        )
        if done.folders_left:
            flash(
                _(
                    "The files of %(count)s received emails could not be deleted: the file "
                    "store did not answer. The log names where they are: delete them there.",
                    count=done.folders_left,
                ),
                "danger",
            )
        if done.invoices_kept:
            flash(
                _(
                    "Invoices %(numbers)s kept as issued: invoices are bookkeeping records the "
                    "bureau must keep for the statutory period (client organization, address "
                    "and tax number as printed).",
                    numbers=", ".join(done.invoices_kept),
                ),
                "warning",
            )
    else:
        flash(_("Nothing held for that address; nothing to erase."), "info")
    return redirect(url_for("privacy.index", email=address)), 303
