"""Staff pages: sign-in, the dashboard, a request's page and its workflow actions, the mail log."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from bureau.bookings import actions
from bureau.bookings.forms import choices
from bureau.bookings.models import BookingRequest
from bureau.bookings.progress import active_hold
from bureau.bookings.routing import route
from bureau.bookings.states import CLOSED_STATES, Status, staff_label
from bureau.bookings.validation import validate_offer
from bureau.bookings.workflow import Actor, TransitionNotAllowed, note, refusal
from bureau.calendar.feeds import new_feed_token
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.catalogue.queries import active_speaker_choices
from bureau.db import utcnow
from bureau.extensions import db
from bureau.mail.models import Notification
from bureau.mail.redaction import redacted
from bureau.mail.tasks import TASK as MAIL_TASK
from bureau.outbox import Job, JobState, retry_failed
from bureau.params import page_number, row_id
from bureau.reference import timezone_names
from bureau.staff import forms
from bureau.staff.auth import (
    LoginRefused,
    admin_required,
    authenticate,
    client_address,
    guard_staff_pages,
    password_problem,
    password_problem_for_current,
    safe_next,
    set_password,
)
from bureau.staff.models import StaffMember
from bureau.staff.picker import NotASpeaker, Picker
from bureau.staff.queries import (
    CLOSED_COUNT_CAP,
    QUEUE_HINTS,
    QUEUES,
    SORTS,
    Filters,
    Scope,
    default_queue,
    queue_counts,
    request_list,
)
from bureau.staff.sessions import start_session
from bureau.staff.suggestions import Suggestion, first_choice, suggest_speakers
from bureau.templating import staff_time
from bureau.urls import public_url

bp = Blueprint("staff", __name__, url_prefix="/staff")
PER_PAGE = 25


guard_staff_pages(bp, open_endpoints=("staff.login",))


def staff_actor() -> Actor:
    return Actor("staff", current_user.name, current_user.id)


# --- sign-in


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = forms.LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            member = authenticate(
                db.session,
                form.email.data or "",
                form.password.data or "",
                client=client_address(),
            )
        except LoginRefused as refused:
            form.form_errors.append(str(refused))
            return render_template("staff/login.html", form=form), 401
        login_user(member)
        start_session()
        return redirect(safe_next(form.next.data) or url_for("staff.dashboard"))
    return render_template("staff/login.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    # A copy of the session cookie taken earlier must not outlive the sign-out.
    member = db.session.get(StaffMember, current_user.id)
    if member is not None:
        member.session_version = (member.session_version or 0) + 1
        db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("staff.login"))


def account_page(
    status: int = 200,
    *,
    form: forms.PasswordChangeForm | None = None,
    zone_form: forms.TimezoneForm | None = None,
) -> ResponseReturnValue:
    """The staff member's own account: their time zone and their password."""
    if zone_form is None:
        zone_form = forms.TimezoneForm(formdata=None, timezone=current_user.timezone)
    zone_form.timezone.choices = forms.zone_choices()
    form = form or forms.PasswordChangeForm(formdata=None)
    return render_template("staff/password.html", form=form, zone_form=zone_form), status


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    form = forms.PasswordChangeForm()
    if form.validate_on_submit():
        refused = password_problem_for_current(form.current.data or "")
        if refused:
            form.current.errors = [refused]
            return account_page(422, form=form)
        problem = password_problem(form.new.data or "")
        if problem:
            form.new.errors = [problem]
            return account_page(422, form=form)
        member = db.session.get(StaffMember, current_user.id)
        assert member is not None
        set_password(member, form.new.data or "")
        db.session.commit()
        login_user(member)  # this session stays; the others end
        start_session()
        flash("Your password is changed; other sessions are signed out.", "success")
        return redirect(url_for("staff.dashboard"))
    return account_page(422 if form.errors else 200, form=form)


@bp.post("/timezone")
def set_timezone() -> ResponseReturnValue:
    """The zone every time on the staff pages is shown in for this staff member."""
    form = forms.TimezoneForm()
    if not form.validate_on_submit():
        abort(400)
    name = (form.timezone.data or "").strip()
    if name not in timezone_names():
        form.timezone.errors = ["Choose a time zone from the list, e.g. Europe/Amsterdam."]
        return account_page(422, zone_form=form)
    member = db.session.get(StaffMember, current_user.id)
    assert member is not None
    member.timezone = name
    db.session.commit()
    flash(f"Times are now shown in your zone: it is {staff_time(utcnow(), name)}.", "success")
    return redirect(url_for("staff.password")), 303


# --- dashboard


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    filters = Filters.from_args(request.args, default_queue(current_user.is_admin))
    scope = Scope.of(db.session, current_user.id)
    counts = queue_counts(db.session, scope)
    page = db.paginate(
        request_list(filters, scope),
        page=page_number(),
        per_page=PER_PAGE,
        max_per_page=PER_PAGE,
        error_out=False,
        count=filters.narrowed,
    )
    if not filters.narrowed:  # the whole queue: its count is already known
        page.total = counts[filters.queue]
    html = render_template(
        "staff/dashboard.html",
        page=page,
        filters=filters,
        counts=counts,
        count_cap=CLOSED_COUNT_CAP,
        capped_label=f"{CLOSED_COUNT_CAP:,}+",
        total_capped=not filters.narrowed and (page.total or 0) > CLOSED_COUNT_CAP,
        queues=QUEUES,
        queue_hint=QUEUE_HINTS[filters.queue],
        sorts=SORTS,
        statuses=list(Status),
        staff=db.session.scalars(select(StaffMember).order_by(StaffMember.name)).all(),
        speakers=active_speaker_choices(db.session),
    )
    return html, 422 if filters.errors else 200


CSV_COLUMNS = (
    "reference",
    "status",
    "received",
    "event",
    "organization",
    "contact",
    "email",
    "country",
    "starts",
    "timezone",
    "speakers",
    "assigned_to",
    # The terms, once there are some: the standing offer's, the contract's from the contract.
    "booked_speaker",
    "fee",
    "currency",
    "commission_pct",
    "commission",
    "deposit",
    "deposit_due",
    "event_date",
    "event_timezone",
)


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A leading = + - @ would make a spreadsheet run the cell as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _terms_cells(b: BookingRequest) -> tuple[Any, ...]:
    """The booked speaker, fee, commission, deposit and the agreed date: from the latest
    offer unless the speaker declined it, the money from the contract once there is one;
    empty where not known yet."""
    offer = b.offer if b.offer is not None and b.offer.response != "declined" else None
    contract = b.contract
    money = contract if contract is not None else offer
    if money is None:
        return ("",) * 9
    return (
        offer.speaker.name if offer else "",
        money.fee,
        money.currency,
        contract.commission_pct if contract else "",
        contract.commission if contract else "",
        contract.deposit_amount if contract else "",
        contract.deposit_due.isoformat() if contract else "",
        offer.starts_local.strftime("%Y-%m-%d %H:%M") if offer else "",
        offer.timezone if offer else "",
    )


@bp.get("/requests.csv")
def export_csv() -> ResponseReturnValue:
    filters = Filters.from_args(request.args, default_queue(current_user.is_admin))
    if filters.errors:  # never the whole list instead of the one asked for
        return Response("\n".join(filters.errors) + "\n", 422, mimetype="text/plain")
    # The terms load with the list: one query per collection, not one per row.
    listed = request_list(filters, Scope.of(db.session, current_user.id)).options(
        selectinload(BookingRequest.offers), selectinload(BookingRequest.contract)
    )
    rows = db.session.scalars(listed).unique()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for b in rows:
        writer.writerow(
            _csv_cell(v)
            for v in (
                b.reference,
                b.status,
                b.created_at.strftime("%Y-%m-%d %H:%M"),
                b.event_name,
                b.organization,
                b.contact_name,
                b.contact_email,
                b.country,
                b.starts_local.strftime("%Y-%m-%d %H:%M"),
                b.timezone,
                "; ".join(s.name for s in b.speakers),
                b.assigned_staff.name if b.assigned_staff else "",
                *_terms_cells(b),
            )
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=requests-{utcnow():%Y%m%d}.csv"},
    )


# --- a request's page


def load_booking(booking_id: int) -> BookingRequest:
    booking = db.session.scalars(
        select(BookingRequest)
        .where(BookingRequest.id == booking_id)
        .options(selectinload(BookingRequest.events), selectinload(BookingRequest.offers))
    ).one_or_none()
    if booking is None:
        abort(404)
    return booking


def may_act(booking: BookingRequest) -> bool:
    """Admins act on every request; agents on those assigned to them."""
    return bool(current_user.is_admin or booking.assigned_staff_id == current_user.id)


def timeline(booking: BookingRequest) -> list[dict[str, Any]]:
    """The timeline entries and the emails, in one list by time."""
    items: list[dict[str, Any]] = [
        {"at": e.at, "kind": "event", "event": e} for e in booking.events
    ]
    # Every email job, composed (a Notification) or still waiting to be.
    mails = db.session.execute(
        select(Job, Notification)
        .outerjoin(Notification, Notification.job_id == Job.id)
        .where(Job.booking_id == booking.id, Job.task == MAIL_TASK)
    )
    items += [
        {"at": job.created_at, "kind": "mail", "job": job, "mail": notification}
        for job, notification in mails
    ]
    return sorted(items, key=lambda item: item["at"])


def shortlisted_names(booking: BookingRequest) -> dict[str, str]:
    """Names of the speakers every shortlist on the timeline proposed, by slug."""
    slugs = {
        candidate.get("speaker_slug")
        for e in booking.events
        if e.action == "shortlisted"
        for candidate in e.details.get("candidates", [])
    }
    if not slugs:
        return {}
    rows = db.session.execute(select(Speaker.slug, Speaker.name).where(Speaker.slug.in_(slugs)))
    return dict(rows.all())


def sent_shortlist(booking: BookingRequest) -> dict[str, Any] | None:
    """The shortlist the organizer has now, and when it was sent."""
    if not booking.shortlist:
        return None
    sent = [e.at for e in booking.events if e.action == "shortlisted"]
    return {"entries": booking.shortlist, "when": staff_time(sent[-1]) if sent else None}


def prefill_shortlist(
    form: forms.ShortlistForm,
    booking: BookingRequest,
    suggestions: list[Suggestion],
    picker: Picker,
) -> None:
    """The shortlist the organizer has, to amend; else the best four free suggestions. A
    home city is filled in only where it is not the catalogue's (blank means the catalogue's):
    a row given another name must not keep the previous speaker's city."""
    rows: list[tuple[str, int | None, str | None, str | None]] = [
        (
            picker.label_of(e.speaker_id) or e.speaker.name,
            e.fee_quote,
            None if e.home_city == e.speaker.home_city else e.home_city,
            e.note,
        )
        for e in booking.shortlist
    ] or [
        (picker.label_of(s.speaker.id) or s.speaker.name, s.fee_quote, None, None)
        for s in suggestions
        if s.available
    ]
    for entry, (label, fee, city, note_text) in zip(form.candidates, rows, strict=False):
        entry.speaker.data = label
        entry.fee_quote.data = fee
        entry.home_city.data = city
        entry.note.data = note_text


def offer_choices(
    booking: BookingRequest, speakers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Whom a firm offer may name: only the shortlist while the organizer chooses from it
    (actions.record_offer refuses others); otherwise the shortlist first, then the rest."""
    listed = [(e.speaker.slug, e.speaker.name) for e in booking.shortlist if e.speaker.is_active]
    if booking.status == Status.SHORTLISTED:
        return listed
    slugs = {slug for slug, _ in listed}
    marked = [(slug, f"{name} (shortlisted)") for slug, name in listed]
    return marked + [(slug, name) for slug, name in speakers if slug not in slugs]


def build_forms(booking: BookingRequest, **bound: Any) -> dict[str, Any]:
    """A form per step the booking can take now (bound ones keep the staff's input)."""
    version = str(booking.version)
    made: dict[str, Any] = {}

    def make(name: str, cls: type[Any], **data: Any) -> Any:
        form = bound.get(name) or cls(formdata=None, version=version, **data)
        form.version.data = version
        made[name] = form
        return form

    make("note", forms.NoteForm)
    close = make("close", forms.CloseForm)
    close.to.choices = choices(
        [(to, label) for to, label in forms.CLOSE_AS.items() if actions.can(booking, Status(to))],
        blank=None,
    )
    reassign = bound.get("reassign") or forms.ReassignForm(formdata=None, version=version)
    people = (
        [
            (str(s.id), f"{s.name}{' (on leave)' if s.is_on_leave else ''}")
            for s in db.session.scalars(
                select(StaffMember).where(StaffMember.is_active).order_by(StaffMember.name)
            )
        ]
        if current_user.is_admin
        else []
    )
    reassign.staff_id.choices = choices(
        [("rules", "Through the routing rules"), *people], blank=None
    )
    reassign.version.data = version
    made["reassign"] = reassign
    if actions.can(booking, Status.SHORTLISTED):
        suggestions = suggest_speakers(db.session, booking)
        picker = Picker(db.session, suggestions, booking)
        form = make("shortlist", forms.ShortlistForm)
        if "shortlist" not in bound:
            prefill_shortlist(form, booking, suggestions, picker)
        made["picker"] = picker
        made["suggestions"] = suggestions
        made["sent_shortlist"] = sent_shortlist(booking)
    if actions.can(booking, Status.OFFER_RECEIVED):
        made["offer_speakers"] = offer_choices(booking, active_speaker_choices(db.session))
        pick = first_choice(booking)
        made["offer_preselect"] = {"speaker": pick.slug} if pick else {}
    if actions.can(booking, Status.AWAITING_SPEAKER) and booking.offer is not None:
        make("availability", forms.AvailabilityForm)
    if actions.can(booking, Status.CONTRACTED) and booking.status == Status.SPEAKER_ACCEPTED:
        offer = booking.offer
        make(
            "contract",
            forms.ContractForm,
            fee=offer.fee if offer else None,
            currency=offer.currency if offer else booking.currency,
            commission_pct=20,
            deposit_amount=(offer.fee // 2) if offer else None,
            deposit_due=(utcnow() + timedelta(days=14)).date(),
        )
    if booking.status == Status.CONTRACTED:
        make("confirm", forms.ConfirmForm)
    if actions.can(booking, Status.COMPLETED):
        # Before the event ends, say when it can be completed; only an admin may, with a reason.
        made["complete_wait"] = refusal(db.session, booking, Status.COMPLETED)
        if not made["complete_wait"] or current_user.is_admin:
            make("complete", forms.CompleteForm)
    if current_user.is_admin:
        correct = bound.get("correct") or forms.CorrectStateForm(formdata=None, version=version)
        correct.status.choices = choices([(s.value, staff_label(s)) for s in Status], blank=None)
        correct.version.data = version
        made["correct"] = correct
    return made


@bp.get("/requests/<id:booking_id>")
def request_page(booking_id: int, status: int = 200, **bound: Any) -> ResponseReturnValue:
    booking = load_booking(booking_id)
    made = build_forms(booking, **bound)
    return (
        render_template(
            "staff/request.html",
            booking=booking,
            timeline=timeline(booking),
            speaker_names=shortlisted_names(booking),
            may_act=may_act(booking),
            forms=made,
            is_closed=booking.status in CLOSED_STATES,
            offer_errors=bound.get("offer_errors", {}),
            offer_input=bound.get("offer_input") or made.get("offer_preselect", {}),
            engagement=db.session.scalars(
                select(Engagement).where(Engagement.booking_id == booking.id)
            ).one_or_none(),
            reschedule_errors=bound.get("reschedule_errors", {}),
            reschedule_input=bound.get("reschedule_input", {}),
            hold=active_hold(db.session, booking.id),
        ),
        status,
    )


Perform = Callable[[BookingRequest, Any], str]


def act(
    booking_id: int, name: str, form_class: type[Any] | None, perform: Perform
) -> ResponseReturnValue:
    """Run one workflow step from a form: authorise, validate, perform, commit — or explain."""
    booking = load_booking(booking_id)
    if not may_act(booking):
        abort(403)
    form = form_class() if form_class is not None else None
    if form is not None and name == "reassign":
        form.staff_id.choices = None
    if form is not None and not form.validate_on_submit():
        return request_page(booking_id, status=422, **{name: form})
    try:
        message = perform(booking, form)
        db.session.commit()
    except (actions.Conflict, StaleDataError) as error:
        db.session.rollback()
        text = (
            str(error)
            if isinstance(error, actions.Conflict)
            else (
                "Someone else changed this request at the same moment. Nothing was saved; "
                "look at it again."
            )
        )
        flash(text, "warning")
        return redirect(url_for("staff.request_page", booking_id=booking_id)), 303
    except (actions.ActionError, TransitionNotAllowed) as error:
        db.session.rollback()
        flash(str(error), "danger")
        return request_page(booking_id, status=422, **({name: form} if form is not None else {}))
    flash(message, "success")
    return redirect(url_for("staff.request_page", booking_id=booking_id)), 303


@bp.post("/requests/<id:booking_id>/note")
def add_note(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.NoteForm) -> str:
        actions.check_version(booking, form.expected_version)
        note(
            db.session,
            booking,
            actor=staff_actor(),
            action="note",
            details={"text": form.text.data},
        )
        booking.updated_at = utcnow()
        return "Note added."

    return act(booking_id, "note", forms.NoteForm, perform)


@bp.post("/requests/<id:booking_id>/reassign")
def reassign(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ReassignForm) -> str:
        choice = form.staff_id.data or "rules"
        if choice == "rules":
            actions.check_version(booking, form.expected_version)
            decision = route(db.session, booking, actor=staff_actor())
            return f"Routed by the rules: {decision.reason}"
        if not current_user.is_admin:
            abort(403)
        staff_id = row_id(choice)
        member = db.session.get(StaffMember, staff_id) if staff_id else None
        if member is None:
            raise actions.ActionError("Choose a staff member.")
        actions.reassign_to(
            db.session, booking, member, actor=staff_actor(), expected_version=form.expected_version
        )
        return f"Assigned to {member.name}."

    return act(booking_id, "reassign", forms.ReassignForm, perform)


@bp.post("/requests/<id:booking_id>/shortlist")
def shortlist(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ShortlistForm) -> str:
        actions.check_version(booking, form.expected_version)
        candidates = shortlist_candidates(form)
        replacing = bool(booking.shortlist)
        if replacing and not form.replace.data:
            box = form.replace.label.text
            form.replace.errors = [f"Tick “{box}” to send this one in its place."]
            sent = sent_shortlist(booking) or {}
            raise actions.ActionError(
                f"{booking.contact_name} already has a shortlist"
                + (f", sent {sent['when']}" if sent.get("when") else "")
                + f"; this one would replace it. Tick “{box}” to send it. Nothing was sent."
            )
        actions.shortlist(
            db.session,
            booking,
            candidates,
            actor=staff_actor(),
            expected_version=form.expected_version,
        )
        instead = ", in place of the previous one" if replacing else ""
        return f"Shortlist of {len(candidates)} sent to {booking.contact_name}{instead}."

    return act(booking_id, "shortlist", forms.ShortlistForm, perform)


def shortlist_candidates(form: forms.ShortlistForm) -> list[actions.Candidate]:
    """The candidates the rows name, each typed name resolved to one active speaker; a row
    that cannot be is marked on its field and nothing is sent."""
    picker = Picker(db.session)
    candidates: list[actions.Candidate] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, entry in enumerate(form.candidates, start=1):
        if not (entry.speaker.data or "").strip():
            continue
        try:
            pick = picker.resolve(entry.speaker.data)
        except NotASpeaker as refused:
            entry.speaker.errors = [str(refused)]
            problems.append(f"Candidate {number}: {refused}")
            continue
        if pick.slug in seen:
            entry.speaker.errors = [f"{pick.label} is already on this shortlist."]
            problems.append(f"Candidate {number}: {pick.label} is on the shortlist twice.")
            continue
        seen.add(pick.slug)
        if entry.fee_quote.data is None:
            entry.fee_quote.errors = [f"Give {pick.name}'s fee quote."]
            problems.append(f"Candidate {number}: give {pick.name}'s fee quote.")
            continue
        candidates.append(
            actions.Candidate(
                pick.slug,
                entry.fee_quote.data,
                (entry.home_city.data or "").strip() or pick.home_city,
                entry.note.data or None,
            )
        )
    if problems:
        raise actions.ActionError(" ".join(problems) + " Nothing was sent.")
    return candidates


def act_on_terms(
    booking_id: int,
    name: str,
    step: Callable[..., Any],
    message: str,
    fixed: Callable[[BookingRequest], dict[str, str]] | None = None,
) -> ResponseReturnValue:
    """A step that takes offer-like terms (a firm offer, a reschedule): validate them with
    the offer's validation (``fixed`` supplies what the form does not ask), then act."""
    booking = load_booking(booking_id)
    if not may_act(booking):
        abort(403)
    form = forms.VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    raw = {**request.form.to_dict(), **(fixed(booking) if fixed else {})}
    terms, errors = validate_offer(raw)
    if terms is None:
        bound = {f"{name}_errors": errors, f"{name}_input": request.form.to_dict()}
        return request_page(booking_id, status=422, **bound)

    def perform(booking: BookingRequest, _: Any) -> str:
        step(
            db.session, booking, terms, actor=staff_actor(), expected_version=form.expected_version
        )
        return message

    return act(booking_id, name, None, perform)


@bp.post("/requests/<id:booking_id>/offer")
def offer(booking_id: int) -> ResponseReturnValue:
    return act_on_terms(booking_id, "offer", actions.record_offer, "Firm offer recorded.")


def _current_terms(booking: BookingRequest) -> dict[str, str]:
    current = booking.offer
    return {
        "speaker": current.speaker.slug if current else "",
        "fee": str(current.fee) if current else "",
        "format": booking.format,
    }


@bp.post("/requests/<id:booking_id>/reschedule")
def reschedule(booking_id: int) -> ResponseReturnValue:
    return act_on_terms(
        booking_id,
        "reschedule",
        actions.reschedule,
        "Rescheduled; updated invitations go to everyone.",
        fixed=_current_terms,
    )


@bp.post("/requests/<id:booking_id>/availability")
def availability(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.AvailabilityForm) -> str:
        hold = actions.request_availability(
            db.session,
            booking,
            actor=staff_actor(),
            expected_version=form.expected_version,
            hold_for=timedelta(days=form.hold_days.data or 7),
        )
        return f"Availability check sent; the date is held until {staff_time(hold.expires_at)}."

    return act(booking_id, "availability", forms.AvailabilityForm, perform)


@bp.post("/requests/<id:booking_id>/contract")
def contract(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ContractForm) -> str:
        terms = actions.ContractTerms(
            fee=form.fee.data,
            currency=form.currency.data,
            commission_pct=form.commission_pct.data,
            deposit_amount=form.deposit_amount.data,
            deposit_due=form.deposit_due.data,
            travel_terms=form.travel_terms.data or None,
        )
        actions.record_contract(
            db.session, booking, terms, actor=staff_actor(), expected_version=form.expected_version
        )
        return "Contract recorded."

    return act(booking_id, "contract", forms.ContractForm, perform)


@bp.post("/requests/<id:booking_id>/confirm")
def confirm(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ConfirmForm) -> str:
        actions.confirm(
            db.session, booking, actor=staff_actor(), expected_version=form.expected_version
        )
        return "Booking confirmed; the organizer is told."

    return act(booking_id, "confirm", forms.ConfirmForm, perform)


@bp.post("/requests/<id:booking_id>/complete")
def complete(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.CompleteForm) -> str:
        actions.complete(
            db.session,
            booking,
            actor=staff_actor(),
            expected_version=form.expected_version,
            feedback=form.feedback.data or None,
            early_reason=form.early_reason.data or None,
            actor_is_admin=current_user.is_admin,
        )
        return "Marked as completed."

    return act(booking_id, "complete", forms.CompleteForm, perform)


@bp.post("/requests/<id:booking_id>/close")
def close(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.CloseForm) -> str:
        try:
            to = Status(form.to.data)
        except ValueError:
            raise actions.ActionError("Choose how to close the request.") from None
        actions.close(
            db.session,
            booking,
            to,
            reason=form.reason.data or "",
            actor=staff_actor(),
            expected_version=form.expected_version,
        )
        return f"Request closed: {staff_label(to).lower()}."

    return act(booking_id, "close", forms.CloseForm, perform)


@bp.post("/requests/<id:booking_id>/correct")
@admin_required
def correct(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.CorrectStateForm) -> str:
        try:
            to = Status(form.status.data)
        except ValueError:
            raise actions.ActionError("Choose a status.") from None
        refused = password_problem_for_current(form.password.data or "")
        if refused:
            raise actions.ActionError(f"{refused} Nothing was changed.")
        actions.correct_state(
            db.session,
            booking,
            to,
            reason=form.reason.data or "",
            actor=staff_actor(),
            actor_is_admin=current_user.is_admin,
            expected_version=form.expected_version,
        )
        return f"Status corrected to “{staff_label(to)}”."

    return act(booking_id, "correct", forms.CorrectStateForm, perform)


# --- calendar feed


@bp.get("/calendar")
def my_calendar() -> ResponseReturnValue:
    url = (
        public_url("calendar.staff_feed", staff_id=current_user.id, token=current_user.feed_token)
        if current_user.feed_token
        else None
    )
    return render_template("staff/calendar.html", feed_url=url, form=forms.ResendForm())


@bp.post("/calendar/rotate")
def rotate_my_feed() -> ResponseReturnValue:
    form = forms.ResendForm()
    if not form.validate_on_submit():
        abort(400)
    member = db.session.get(StaffMember, current_user.id)
    assert member is not None
    member.feed_token = new_feed_token()
    db.session.commit()
    flash("Your calendar feed has a new address; the old one no longer works.", "success")
    return redirect(url_for("staff.my_calendar")), 303


# --- mail log


@bp.get("/mail")
def mail_log() -> ResponseReturnValue:
    state = request.args.get("state", "")
    stmt = (
        select(Notification)
        .join(Job, Job.id == Notification.job_id)
        .options(selectinload(Notification.job))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if state in {s.value for s in JobState}:
        stmt = stmt.where(Job.state == state)
    if not current_user.is_admin:  # an agent sees the emails of the requests they act on
        mine = select(BookingRequest.id).where(BookingRequest.assigned_staff_id == current_user.id)
        stmt = stmt.where(Notification.booking_id.in_(mine))
    page = db.paginate(stmt, page=page_number(), per_page=50, max_per_page=50, error_out=False)
    return render_template("staff/mail.html", page=page, state=state, resend=forms.ResendForm())


def booking_of(notification: Notification) -> BookingRequest | None:
    return (
        db.session.get(BookingRequest, notification.booking_id) if notification.booking_id else None
    )


@bp.get("/mail/<id:notification_id>")
def mail_message(notification_id: int) -> ResponseReturnValue:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        abort(404)
    # Shown as plain text: the stored message is never rendered as HTML here.
    if current_user.is_admin:
        return Response(notification.raw_message, mimetype="text/plain")
    booking = booking_of(notification)
    if booking is None or not may_act(booking):
        abort(403)
    # Its reader's private links would let an agent act as that reader: hidden.
    shown = redacted(notification.raw_message, [booking.tracking_token])
    return Response(shown, mimetype="text/plain")


@bp.post("/mail/<id:notification_id>/resend")
def resend(notification_id: int) -> ResponseReturnValue:
    form = forms.ResendForm()
    if not form.validate_on_submit():
        abort(400)
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        abort(404)
    booking = booking_of(notification)
    if booking is not None and not may_act(booking):
        abort(403)
    if not retry_failed(db.session, [notification.job_id]):
        flash("Only a failed email can be resent.", "warning")
        return redirect(url_for("staff.mail_log")), 303
    if booking is not None:
        note(
            db.session,
            booking,
            actor=staff_actor(),
            action="email resent",
            details={"to": notification.recipient, "subject": notification.subject},
        )
    db.session.commit()  # sends the job to the broker
    flash(f"Sending again to {notification.recipient}.", "success")
    return redirect(url_for("staff.mail_log")), 303
