"""Contract versions: issue, accept, decline, countersign; and the agreement templates.

Every refusal raises ``ContractRefused`` before anything is changed, so a bad click leaves the
contract as it was. A version's text never changes once sent: new terms make a new version and
void the live one (sent or accepted), so an organizer can only ever accept the text they were
shown, identified by its SHA-256. The caller commits; the timeline entries go with it.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, NamedTuple

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import TemplateSyntaxError
from sqlalchemy import select, update

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import CLOSED_STATES
from bureau.bookings.workflow import Actor, ActorKind, note
from bureau.contracts.models import (
    ADDRESS_MAX,
    NAME_MAX,
    ORGANIZATION_MAX,
    REASON_MAX,
    TAX_NUMBER_MAX,
    USER_AGENT_MAX,
    Acceptance,
    AgreementTemplate,
    ContractVersion,
    VersionStatus,
)
from bureau.contracts.render import (
    ContractRefused,
    active_template,
    render_agreement,
    sandbox,
    sha256_of,
)
from bureau.db import AnySession, utcnow
from bureau.staff.models import StaffMember
from bureau.text import clean_line, clean_text

LIVE = (VersionStatus.SENT, VersionStatus.ACCEPTED)


def versions_of(session: AnySession, booking: BookingRequest) -> list[ContractVersion]:
    """The booking's versions, oldest first."""
    return list(
        session.scalars(
            select(ContractVersion)
            .where(ContractVersion.booking_id == booking.id)
            .order_by(ContractVersion.number)
        )
    )


def current_version(session: AnySession, booking: BookingRequest) -> ContractVersion | None:
    """The newest version that is not void (sent, accepted or declined), if any."""
    live = [v for v in versions_of(session, booking) if v.status != VersionStatus.VOID]
    return live[-1] if live else None


def issue_version(
    session: AnySession, booking: BookingRequest, *, actor: Actor, now: datetime | None = None
) -> ContractVersion:
    """Send the agreement the booking's terms make now. Unchanged terms return the live
    version as it is; changed ones make version n+1 and void the live one."""
    _refuse_closed(booking)
    now = now or utcnow()
    versions = versions_of(session, booking)
    template = active_template(session)
    live = [v for v in versions if v.status in LIVE]
    if live:
        latest = live[-1]
        same = render_agreement(
            session, booking, number=latest.number, today=latest.sent_at.date(), template=template
        )
        if sha256_of(same) == latest.sha256:
            return latest
    number = versions[-1].number + 1 if versions else 1
    html = render_agreement(session, booking, number=number, today=now.date(), template=template)
    for old in live:
        old.status, old.voided_at = VersionStatus.VOID, now
    version = ContractVersion(
        booking_id=booking.id,
        number=number,
        html=html,
        sha256=sha256_of(html),
        status=VersionStatus.SENT,
        template_id=template.id if template else None,
        sent_at=now,
    )
    session.add(version)
    session.flush()
    note(
        session,
        booking,
        actor=actor,
        action="contract sent",
        public_message=(
            _l(
                "Contract version %(number)s sent for your acceptance. It replaces contract "
                "version %(replaced)s, which is void.",
                number=number,
                replaced=live[-1].number,
            )
            if live
            else _l("Contract version %(number)s sent for your acceptance.", number=number)
        ),
        details={"version": number, "sha256": version.sha256, "voided": [v.number for v in live]},
    )
    return version


def _refuse_closed(booking: BookingRequest) -> None:
    if booking.status in CLOSED_STATES:
        raise ContractRefused(
            _(
                "%(reference)s is %(status)s: its contract can no longer change.",
                reference=booking.reference,
                status=booking.status,
            )
        )


def _open_for_answer(version: ContractVersion, booking: BookingRequest) -> None:
    """Refuse an answer to a version of another or a closed booking, or to a version that
    is void or already answered."""
    if version.booking_id != booking.id:
        raise ContractRefused(_("This contract belongs to another booking."))
    _refuse_closed(booking)
    number = version.number
    if version.status == VersionStatus.VOID:
        raise ContractRefused(
            _(
                "Version %(number)s of this contract was replaced by a newer one and can no "
                "longer be accepted or declined; read the newest version.",
                number=number,
            )
        )
    if version.status == VersionStatus.ACCEPTED or version.acceptance is not None:
        raise ContractRefused(
            _("Version %(number)s of this contract is already accepted.", number=number)
        )
    if version.status == VersionStatus.DECLINED:
        raise ContractRefused(_("Version %(number)s of this contract was declined.", number=number))


class Wording(NamedTuple):
    """What a refused text field is told, in the reader's language when raised."""

    missing: Any
    too_long: Any  # with %(most)s


FULL_NAME = Wording(
    _l("Please give your full name."),
    _l("Your full name is too long (%(most)s characters at most)."),
)
ORGANIZATION = Wording(
    _l("Please give the organization."),
    _l("The organization is too long (%(most)s characters at most)."),
)
BILLING_ADDRESS = Wording(
    _l("Please give the billing address for the invoices."),
    _l("The billing address for the invoices is too long (%(most)s characters at most)."),
)
TAX_NUMBER = Wording(None, _l("The tax number is too long (%(most)s characters at most)."))
DECLINE_REASON = Wording(
    _l("Please give a reason for declining."),
    _l("A reason for declining is too long (%(most)s characters at most)."),
)
TEMPLATE_NAME = Wording(
    _l("Please give a name for the template."),
    _l("A name for the template is too long (%(most)s characters at most)."),
)


def _optional(value: str | None, words: Wording, most: int) -> str | None:
    cleaned = clean_text(value or "") if most >= ADDRESS_MAX else clean_line(value or "")
    if len(cleaned) > most:
        raise ContractRefused(str(words.too_long) % {"most": most})
    return cleaned or None


def _required(value: str | None, words: Wording, most: int) -> str:
    cleaned = _optional(value, words, most)
    if cleaned is None:
        raise ContractRefused(str(words.missing))
    return cleaned


def accept(
    session: AnySession,
    version: ContractVersion,
    booking: BookingRequest,
    *,
    full_name: str,
    on_behalf: bool,
    sha256: str,
    client_address: str,
    user_agent: str,
    billing_address: str,
    tax_number: str | None = None,
    organization: str | None = None,
    now: datetime | None = None,
) -> Acceptance:
    """The organizer accepts ``version`` of ``booking``'s contract, as shown to them (its
    hash), typing their name and ticking "on behalf of" their organization."""
    _open_for_answer(version, booking)
    name = _required(full_name, FULL_NAME, NAME_MAX)
    org = _required(organization or booking.organization, ORGANIZATION, ORGANIZATION_MAX)
    if not on_behalf:
        raise ContractRefused(
            _("Please tick the box to agree on behalf of %(organization)s.", organization=org)
        )
    address = _required(billing_address, BILLING_ADDRESS, ADDRESS_MAX)
    tax = _optional(tax_number, TAX_NUMBER, TAX_NUMBER_MAX)
    if not hmac.compare_digest(sha256_of(version.html), version.sha256):
        raise ContractRefused(_("This contract's stored text is damaged; ask your agent."))
    if not hmac.compare_digest((sha256 or "").strip().lower(), version.sha256):
        raise ContractRefused(
            _(
                "The contract you accepted is not the one on file (it may have changed while "
                "you read it); reload the page, read it again and accept."
            )
        )
    now = now or utcnow()
    acceptance = Acceptance(
        version=version,
        full_name=name,
        organization=org,
        on_behalf=True,
        accepted_at=now,
        client_address=client_address[:45],
        user_agent=clean_line(user_agent)[:USER_AGENT_MAX],
        version_sha256=version.sha256,
        billing_address=address,
        tax_number=tax,
    )
    version.status = VersionStatus.ACCEPTED
    session.add(acceptance)
    note(
        session,
        booking,
        actor=Actor(ActorKind.ORGANIZER, name),
        action="contract accepted",
        public_message=_l(
            "You accepted contract version %(number)s for %(organization)s.",
            number=version.number,
            organization=org,
        ),
        details={"version": version.number, "sha256": version.sha256},
    )
    return acceptance


def decline(
    session: AnySession,
    version: ContractVersion,
    booking: BookingRequest,
    *,
    reason: str,
    now: datetime | None = None,
) -> None:
    """The organizer declines ``version``, saying why; staff may then send new terms."""
    _open_for_answer(version, booking)
    why = _required(reason, DECLINE_REASON, REASON_MAX)
    version.status, version.declined_at, version.decline_reason = (
        VersionStatus.DECLINED,
        now or utcnow(),
        why,
    )
    note(
        session,
        booking,
        actor=Actor(ActorKind.ORGANIZER, booking.contact_name),
        action="contract declined",
        public_message=_l("You declined contract version %(number)s.", number=version.number),
        details={"version": version.number, "reason": why},
    )


def countersign(
    session: AnySession,
    version: ContractVersion,
    booking: BookingRequest,
    *,
    staff: StaffMember,
    now: datetime | None = None,
) -> None:
    """Staff countersign an accepted version for the bureau (once)."""
    if version.booking_id != booking.id:
        raise ContractRefused("This contract belongs to another booking.")
    _refuse_closed(booking)
    if version.status != VersionStatus.ACCEPTED:
        raise ContractRefused(
            f"Version {version.number} is {version.status}: only an accepted contract can be "
            f"countersigned."
        )
    if version.countersigned_at is not None:
        raise ContractRefused(f"Version {version.number} is already countersigned.")
    version.countersigned_by_id = staff.id
    version.countersigned_by_name = staff.name
    version.countersigned_at = now or utcnow()
    note(
        session,
        booking,
        actor=Actor(ActorKind.STAFF, staff.name, staff.id),
        action="contract countersigned",
        public_message=_l(
            "The bureau countersigned contract version %(number)s.", number=version.number
        ),
        details={"version": version.number},
    )


def save_template(
    session: AnySession,
    *,
    name: str,
    body: str,
    editor: StaffMember | None,
    activate: bool = True,
    now: datetime | None = None,
) -> AgreementTemplate:
    """Create or replace the template called ``name``; a body Jinja cannot read is refused
    with its line. Activating it makes it the one new versions use."""
    title = _required(name, TEMPLATE_NAME, NAME_MAX)
    if not body.strip():
        raise ContractRefused("The agreement template is empty.")
    try:
        sandbox().parse(body)
    except TemplateSyntaxError as error:
        raise ContractRefused(
            f"The agreement template has a mistake on line {error.lineno}: {error.message}."
        ) from None
    template = session.scalars(
        select(AgreementTemplate).where(AgreementTemplate.name == title)
    ).one_or_none()
    if template is None:
        template = AgreementTemplate(name=title, body=body)
        session.add(template)
    template.body = body
    template.edited_by_id = editor.id if editor else None
    template.edited_at = now or utcnow()
    if activate:
        session.execute(update(AgreementTemplate).values(active=False))
        template.active = True
    session.flush()
    return template
