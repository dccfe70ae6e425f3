"""The contract on a request's page (send, countersign, void, read a version as HTML or
PDF, the gate before confirming) and the admins' agreement template editor."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import CLOSED_STATES
from bureau.contracts import flow
from bureau.contracts.models import AgreementTemplate, ContractVersion
from bureau.contracts.render import (
    ContractRefused,
    active_template,
    default_body,
    document_pdf,
    fingerprint,
    render_agreement,
    render_body,
    sample_context,
)
from bureau.contracts.services import save_template, versions_of
from bureau.db import utcnow
from bureau.extensions import db
from bureau.params import row_id
from bureau.staff import forms
from bureau.staff.auth import admin_required
from bureau.staff.blueprint import bp, staff_actor
from bureau.staff.request_actions import Step, workflow_step
from bureau.staff.request_page import load_booking


def contract_panel(booking: BookingRequest) -> dict[str, Any]:
    """What templates/staff/_contract.html shows: the versions, the gate, the forms. Before
    there is a contract or a version it shows nothing, and nothing more is read or built."""
    version = str(booking.version)
    versions = list(reversed(versions_of(db.session, booking)))
    if booking.contract is None and not versions:
        return {"versions": versions, "gate": None, "can_send": False}
    can_send = (
        booking.contract is not None
        and booking.offer is not None
        and booking.status not in CLOSED_STATES
    )
    return {
        "versions": versions,
        "gate": flow.gate(db.session, booking),
        "can_send": can_send,
        "send": forms.SendContractForm(formdata=None, version=version) if can_send else None,
        "step": lambda number: forms.ContractVersionForm(
            formdata=None, version=version, number=number
        ),
        "void": lambda number: forms.VoidContractForm(
            formdata=None, version=version, number=number
        ),
    }


bp.add_app_template_filter(fingerprint)


@bp.context_processor
def _contract_panel() -> dict[str, Any]:
    return {"contract_panel": contract_panel}


def _version(step: Step[Any]) -> ContractVersion:
    """The version the form names, of this request (a stale page: refused, not a 404)."""
    actions.check_version(step.booking, step.form.expected_version)
    number = step.form.number.data or 0
    version = flow.numbered(db.session, step.booking, number)
    if version is None:
        raise ContractRefused(_("There is no version %(number)s of this contract.", number=number))
    return version


@workflow_step("send_contract", forms.SendContractForm)
def send_contract(step: Step[forms.SendContractForm]) -> str:
    actions.check_version(step.booking, step.form.expected_version)
    version, fresh = flow.send(db.session, step.booking, actor=staff_actor())
    if not fresh:
        return str(
            _(
                "The terms are unchanged: version %(number)s stands and was not sent again.",
                number=version.number,
            )
        )
    return str(
        _(
            "Contract version %(number)s sent to %(name)s.",
            number=version.number,
            name=step.booking.contact_name,
        )
    )


@workflow_step("countersign", forms.ContractVersionForm)
def countersign(step: Step[forms.ContractVersionForm]) -> str:
    version = _version(step)
    flow.countersign(db.session, version, step.booking, staff=current_user)
    return str(
        _(
            "Version %(number)s countersigned; the final PDF goes to both sides.",
            number=version.number,
        )
    )


@workflow_step("void_contract", forms.VoidContractForm)
def void_contract(step: Step[forms.VoidContractForm]) -> str:
    version = _version(step)
    flow.void(
        db.session, version, step.booking, actor=staff_actor(), reason=step.form.reason.data or ""
    )
    return str(_("Version %(number)s is void.", number=version.number))


def _shown_version(booking_id: int, number: int) -> tuple[BookingRequest, ContractVersion]:
    booking = load_booking(booking_id)
    version = flow.numbered(db.session, booking, number)
    if version is None:
        abort(404)
    return booking, version


@bp.get("/requests/<id:booking_id>/contract/<id:number>")
def contract_document(booking_id: int, number: int) -> ResponseReturnValue:
    booking, version = _shown_version(booking_id, number)
    return render_template("staff/contract.html", booking=booking, version=version)


@bp.get("/requests/<id:booking_id>/contract/<id:number>.pdf")
def contract_pdf(booking_id: int, number: int) -> ResponseReturnValue:
    booking, version = _shown_version(booking_id, number)
    name = f"{booking.reference}-contract-v{version.number}.pdf"
    return (
        document_pdf(version, booking.reference),
        200,
        {"Content-Type": "application/pdf", "Content-Disposition": f'inline; filename="{name}"'},
    )


def _preview(body: str) -> str:
    """The body filled in with the newest booking that has terms (else made-up ones)."""
    booking = db.session.scalars(
        select(BookingRequest)
        .where(BookingRequest.contract.has(), BookingRequest.offers.any())
        .order_by(BookingRequest.id.desc())
        .limit(1)
    ).one_or_none()
    if booking is None:
        return render_body(body, sample_context())
    template = AgreementTemplate(name="preview", body=body)
    return render_agreement(db.session, booking, number=1, today=utcnow().date(), template=template)


@bp.route("/agreements", methods=["GET", "POST"])
@admin_required
def agreements() -> ResponseReturnValue:
    """List the agreement templates; edit one (or a new one) with a preview. A body that
    cannot be filled in is refused with its reason, and nothing is saved."""
    templates = list(db.session.scalars(select(AgreementTemplate).order_by(AgreementTemplate.name)))
    template_id = row_id(request.args.get("template", ""))
    chosen = db.session.get(AgreementTemplate, template_id) if template_id else None
    form = forms.AgreementTemplateForm(obj=chosen)
    if request.method == "GET" and chosen is None:
        active = active_template(db.session)
        form.body.data = active.body if active is not None else default_body()
    preview, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        else:
            body = form.body.data or ""
            try:
                preview = _preview(body)
                if "save" in request.form:
                    saved = save_template(
                        db.session,
                        name=form.name.data or "",
                        body=body,
                        editor=current_user,
                        activate=bool(form.activate.data),
                    )
                    db.session.commit()
                    flash(_("Agreement template “%(name)s” saved.", name=saved.name), "success")
                    return redirect(url_for("staff.agreements", template=saved.id)), 303
            except ContractRefused as refused:
                db.session.rollback()
                preview, status = None, 422
                flash(_("%(problem)s Nothing was saved.", problem=refused), "danger")
    return (
        render_template(
            "staff/agreements.html",
            templates=templates,
            chosen=chosen,
            form=form,
            preview=preview,
        ),
        status,
    )
