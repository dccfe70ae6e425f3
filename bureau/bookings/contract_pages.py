"""The contract on the organizer's status page: read it, accept or decline it, its PDF.

No account: the status link is the organizer's key, as for their other steps. The version's
text is the admin's template filled in a sandbox with autoescaping (bureau/contracts/render.py),
so what the organizer typed is escaped in it, and the site's CSP runs no script it might hold.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import CLOSED_STATES
from bureau.bookings.views import back_to_status, bp, organizer_booking, status_page
from bureau.bookings.workflow import ActionError
from bureau.contracts import flow
from bureau.contracts.forms import AcceptContractForm, DeclineContractForm
from bureau.contracts.models import ContractVersion, VersionStatus
from bureau.contracts.render import document_pdf, fingerprint
from bureau.extensions import db

ALREADY_ACCEPTED = _l("This contract is already accepted; thank you. Nothing else was changed.")


def organizer_contract(booking: BookingRequest) -> dict[str, Any]:
    """What templates/bookings/_contract.html shows: the current version, the gate, forms
    (bound ones, after a refusal, keep what the organizer typed)."""
    gate = flow.gate(db.session, booking)
    version = gate.version
    accept = g.get("contract_accept_form") or AcceptContractForm(
        formdata=None, organization=booking.organization
    )
    if version is not None:
        accept.sha256.data = version.sha256
    return {
        "version": version,
        "gate": gate,
        "open": version is not None
        and version.status == VersionStatus.SENT
        and booking.status not in CLOSED_STATES,
        "accept": accept,
        "decline": g.get("contract_decline_form") or DeclineContractForm(formdata=None),
    }


bp.add_app_template_filter(fingerprint)


@bp.context_processor
def _organizer_contract() -> dict[str, Any]:
    return {"organizer_contract": organizer_contract}


def _version_of(booking: BookingRequest, number: int) -> ContractVersion:
    version = flow.numbered(db.session, booking, number)
    if version is None:
        abort(404)
    return version


def _answer(token: str, number: int, form: Any) -> tuple[BookingRequest, ContractVersion]:
    booking = organizer_booking(token)
    if not form.validate_on_submit():
        abort(400)  # only CSRF can fail: the services check the fields
    return booking, _version_of(booking, number)


def _refused(booking: BookingRequest, error: Exception, message: str) -> ResponseReturnValue:
    """Nothing is saved; the page again, with the organizer's input and the reason."""
    db.session.rollback()
    if isinstance(error, IntegrityError):  # a double click a moment apart
        flash(str(ALREADY_ACCEPTED), "info")
        return back_to_status(booking.tracking_token)
    reason = (
        _("someone changed this request at the same moment; please try again")
        if isinstance(error, StaleDataError)
        else str(error)
    )
    flash(message % {"reason": reason}, "danger")
    return status_page(db.session.get(BookingRequest, booking.id) or booking, 422)


@bp.post("/requests/<token>/contract/<id:number>/accept")
def accept_contract(token: str, number: int) -> ResponseReturnValue:
    form = AcceptContractForm()
    booking, version = _answer(token, number, form)
    g.contract_accept_form = form
    signer = flow.Signer(
        full_name=form.full_name.data or "",
        organization=form.organization.data or "",
        on_behalf=bool(form.on_behalf.data),
        billing_address=form.billing_address.data or "",
        tax_number=form.tax_number.data or None,
        sha256=form.sha256.data or "",
        client_address=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
    )
    try:
        invoice = flow.accept(db.session, version, booking, signer)[1]
        db.session.commit()
    except (ActionError, IntegrityError, StaleDataError) as error:
        return _refused(booking, error, _("The contract was not accepted: %(reason)s"))
    flash(
        _(
            "Thank you: you accepted contract version %(number)s. "
            "Your deposit invoice is %(invoice)s.",
            number=number,
            invoice=invoice.number,
        )
        if invoice
        else _("Thank you: you accepted contract version %(number)s.", number=number),
        "success",
    )
    return back_to_status(token)


@bp.post("/requests/<token>/contract/<id:number>/decline")
def decline_contract(token: str, number: int) -> ResponseReturnValue:
    form = DeclineContractForm()
    booking, version = _answer(token, number, form)
    g.contract_decline_form = form
    try:
        flow.decline(db.session, version, booking, reason=form.reason.data or "")
        db.session.commit()
    except (ActionError, StaleDataError) as error:
        return _refused(booking, error, _("The contract was not declined: %(reason)s"))
    flash(_("You declined the contract; your agent will be in touch."), "info")
    return back_to_status(token)


@bp.get("/requests/<token>/contract/<id:number>.pdf")
def contract_pdf(token: str, number: int) -> ResponseReturnValue:
    booking = organizer_booking(token)
    version = _version_of(booking, number)
    name = f"{booking.reference}-contract-v{version.number}.pdf"
    return (
        document_pdf(version, booking.reference),
        200,
        {
            "Content-Type": "application/pdf",
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
