"""Contracts: the agreement rendered from the booking (HTML, PDF with Chinese names), stored
with the hash of its text, voided when the terms change; every refusal of an acceptance,
decline or countersignature changes nothing; the cancellation schedule at its boundaries."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.workflow import ActionError, Actor
from bureau.config import ConfigError, load_settings
from bureau.contracts import services
from bureau.contracts.attachments import CONTRACT_MAIL_TEMPLATES
from bureau.contracts.models import Acceptance, AgreementTemplate, ContractVersion
from bureau.contracts.render import (
    ContractRefused,
    default_body,
    document_html,
    document_pdf,
    render_agreement,
    render_body,
)
from bureau.contracts.schedule import (
    DEFAULT_SCHEDULE,
    charge,
    notice_days,
    parse_schedule,
)
from bureau.contracts.settings import ContractSettings, contract_settings
from bureau.extensions import db
from bureau.mail.attachments import attachments_for
from bureau.staff.models import StaffMember
from tests.conftest import NEXT_YEAR
from tests.test_invites import cancel_booking
from tests.workflow_helpers import contracted_booking

STAFF = Actor("staff", "Greater China desk")
ORGANIZATION = "上海未来零售论坛"  # the organizer's own words, in Chinese
CONTACT = "张伟"


@pytest.fixture
def booking(app: Flask) -> Iterator[BookingRequest]:
    """A booking whose speaker said yes and whose terms are recorded: USD 12,500, deposit
    6,000, in Shanghai on 10 March next year, 09:00 to 10:00; the organizer writes Chinese."""
    with app.app_context():
        found = contracted_booking(
            app, travel="Economy flights", organization=ORGANIZATION, contact_name=CONTACT
        )
        db.session.commit()
        yield found
        db.session.rollback()
        db.session.execute(delete(AgreementTemplate))
        db.session.commit()


def _accept(version: ContractVersion, booking: BookingRequest, **changes: Any) -> Acceptance:
    fields: dict[str, Any] = {
        "full_name": CONTACT,
        "on_behalf": True,
        "sha256": version.sha256,
        "client_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (test)",
        "billing_address": "1 Century Avenue\nShanghai 200120\nChina",
        "tax_number": "91310000MA1K000000",
    }
    fields.update(changes)
    return services.accept(db.session, version, booking, **fields)


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "contract.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode("utf-8")


def test_the_agreement_says_the_bookings_terms_in_html_and_pdf(
    booking: BookingRequest, tmp_path: Path
) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    html = version.html
    assert version.number == 1
    assert version.status == "sent"
    for words in (
        "Speaking agreement",
        booking.reference,
        ORGANIZATION,
        CONTACT,
        "Kaiser Kuo",
        "Future of Retail Summit",
        f"Wed 10 Mar {NEXT_YEAR}, 09:00 \N{EN DASH} 10:00 (Shanghai time)",
        "Asia/Shanghai",
        "Expo Centre, Shanghai, China",
        "USD 12,500",
        "USD 6,000",
        "USD 6,500",  # the balance
        "Economy flights",
        "Two nights at the venue hotel",
        "Cancelled 90 days or more before the event: the deposit is refunded",
        "Cancelled less than 30 days before the event: the whole fee is due",
        "Force majeure",
        "Recording and materials",
        "the laws of England and Wales",
    ):
        assert words in html, words
    balance_due = date(NEXT_YEAR, 3, 10) - timedelta(days=14)
    assert f"by {balance_due:%A %-d %B %Y}" in html

    text = _pdf_text(document_pdf(version, booking.reference), tmp_path)
    assert "Speaking agreement" in text
    assert CONTACT in text
    assert ORGANIZATION in text
    assert version.sha256 in text


def test_an_online_event_close_at_hand_is_worded_as_such(booking: BookingRequest) -> None:
    offer = booking.offer
    assert offer is not None
    offer.is_virtual, offer.venue = True, "Zoom"
    html = render_agreement(db.session, booking, number=1, today=date(NEXT_YEAR, 3, 1))
    assert "Place: online (Zoom)." in html
    assert "no travel is needed" in html
    assert "is due on acceptance of this agreement" in html
    assert "Expo Centre" not in html


def test_the_bureaus_legal_details_come_from_the_settings(
    booking: BookingRequest, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    legal = {
        "legal_name": "Bureau Speakers Ltd",
        "legal_address": "1 Bund Road\nShanghai",
        "tax_number": "CN-123",
    }
    settings = replace(app.config["BUREAU_SETTINGS"], **legal)
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", settings)
    html = render_agreement(db.session, booking, number=1, today=date(NEXT_YEAR, 1, 1))
    assert "<strong>Bureau Speakers Ltd</strong>, 1 Bund Road, Shanghai (tax number CN-123)" in html


def test_a_version_is_stored_with_the_hash_of_its_exact_text(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    assert version.sha256 == hashlib.sha256(version.html.encode("utf-8")).hexdigest()
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(ContractVersion, version.id)
    assert stored is not None
    assert hashlib.sha256(stored.html.encode("utf-8")).hexdigest() == stored.sha256


def test_organizer_text_is_escaped_in_the_agreement(app: Flask) -> None:
    html = render_body("<p>{{ name }}</p>", {"name": "<script>alert(1)</script>"})
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_unchanged_terms_keep_the_version_and_changed_terms_void_it(
    booking: BookingRequest,
) -> None:
    first = services.issue_version(db.session, booking, actor=STAFF)
    assert services.issue_version(db.session, booking, actor=STAFF) is first
    assert booking.contract is not None
    booking.contract.fee = 14000
    now = datetime.now(UTC)
    second = services.issue_version(db.session, booking, actor=STAFF, now=now)
    assert (second.number, second.status) == (2, "sent")
    assert "USD 14,000" in second.html
    assert (first.status, first.voided_at) == ("void", now)
    assert services.current_version(db.session, booking) is second
    public = [e.public_message for e in booking.events if e.action == "contract sent"]
    assert (
        public[-1]
        == "Contract version 2 sent for your acceptance. It replaces contract version 1, "
        "which is void."
    )


def test_an_accepted_version_is_voided_when_the_terms_change(booking: BookingRequest) -> None:
    first = services.issue_version(db.session, booking, actor=STAFF)
    _accept(first, booking)
    assert booking.contract is not None
    booking.contract.deposit_amount = 5000
    second = services.issue_version(db.session, booking, actor=STAFF)
    assert first.status == "void"
    assert second.status == "sent"
    with pytest.raises(ContractRefused, match="replaced by a newer one"):
        _accept(first, booking)


def test_acceptance_keeps_the_evidence_and_the_billing_details(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    acceptance = _accept(version, booking, full_name="  张伟 ", user_agent="UA\x00 1")
    db.session.flush()
    assert version.status == "accepted"
    assert acceptance.full_name == CONTACT
    assert acceptance.organization == ORGANIZATION
    assert acceptance.on_behalf is True
    assert acceptance.version_sha256 == version.sha256
    assert acceptance.client_address == "203.0.113.7"
    assert acceptance.user_agent == "UA 1"
    assert acceptance.billing_address == "1 Century Avenue\nShanghai 200120\nChina"
    assert acceptance.tax_number == "91310000MA1K000000"
    assert booking.events[-1].action == "contract accepted"
    assert booking.events[-1].actor_kind == "organizer"


def _acceptances() -> int:
    return db.session.scalar(select(func.count()).select_from(Acceptance)) or 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"full_name": "   "}, "Please give your full name"),
        ({"on_behalf": False}, f"tick the box to agree on behalf of {ORGANIZATION}"),
        ({"sha256": "0" * 64}, "not the one on file"),
        ({"sha256": ""}, "not the one on file"),
        ({"billing_address": ""}, "billing address"),
        ({"full_name": "x" * 121}, "too long"),
    ],
)
def test_a_bad_acceptance_is_refused_and_changes_nothing(
    booking: BookingRequest, changes: dict[str, Any], message: str
) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    entries = len(booking.events)
    with pytest.raises(ContractRefused, match=message):
        _accept(version, booking, **changes)
    assert version.status == "sent"
    assert version.acceptance is None
    assert _acceptances() == 0
    assert len(booking.events) == entries


def test_a_second_acceptance_and_an_answer_after_it_are_refused(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    _accept(version, booking)
    with pytest.raises(ContractRefused, match="already accepted"):
        _accept(version, booking, full_name="Someone Else")
    with pytest.raises(ContractRefused, match="already accepted"):
        services.decline(db.session, version, booking, reason="Too expensive")
    assert _acceptances() == 1
    assert version.acceptance is not None
    assert version.acceptance.full_name == CONTACT


def test_the_refusal_is_an_action_error_and_a_value_error() -> None:
    assert issubclass(ContractRefused, ActionError)
    assert issubclass(ContractRefused, ValueError)


def test_declining_needs_a_reason_and_closes_the_version(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    with pytest.raises(ContractRefused, match="reason"):
        services.decline(db.session, version, booking, reason=" \n ")
    assert version.status == "sent"
    services.decline(db.session, version, booking, reason="The fee is over our budget")
    assert (version.status, version.decline_reason) == ("declined", "The fee is over our budget")
    assert version.declined_at is not None
    with pytest.raises(ContractRefused, match="was declined"):
        _accept(version, booking)
    # New terms after a decline: a new version; the declined one stays declined.
    assert booking.contract is not None
    booking.contract.fee = 11000
    second = services.issue_version(db.session, booking, actor=STAFF)
    assert (second.number, version.status) == (2, "declined")


def test_a_void_version_cannot_be_declined(booking: BookingRequest) -> None:
    first = services.issue_version(db.session, booking, actor=STAFF)
    assert booking.contract is not None
    booking.contract.fee = 13000
    services.issue_version(db.session, booking, actor=STAFF)
    with pytest.raises(ContractRefused, match="replaced"):
        services.decline(db.session, first, booking, reason="No")
    assert first.decline_reason is None


def test_a_version_of_another_booking_is_refused(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    other = BookingRequest(id=booking.id + 1000)
    with pytest.raises(ContractRefused, match="another booking"):
        _accept(version, other)


def test_a_closed_bookings_contract_cannot_change(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    cancel_booking(booking)
    for attempt in (
        lambda: services.issue_version(db.session, booking, actor=STAFF),
        lambda: _accept(version, booking),
        lambda: services.decline(db.session, version, booking, reason="No"),
    ):
        with pytest.raises(ContractRefused, match="is cancelled: its contract can no longer"):
            attempt()
    assert version.status == "sent"


def test_the_contract_emails_attach_the_versions_pdf(
    booking: BookingRequest, tmp_path: Path
) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    db.session.flush()
    for template in CONTRACT_MAIL_TEMPLATES:
        (attachment,) = attachments_for(db.session, template, {"contract_version": version.id})
        assert attachment.filename == f"{booking.reference}-contract-v1.pdf"
        assert attachment.content_type == "application/pdf"
        assert CONTACT in _pdf_text(attachment.content, tmp_path)
    assert attachments_for(db.session, "contract_final", {"contract_version": 0}) == []


def test_countersigning_needs_an_accepted_version_and_happens_once(
    booking: BookingRequest, tmp_path: Path
) -> None:
    staff = db.session.scalars(select(StaffMember).order_by(StaffMember.id)).first()
    assert staff is not None
    version = services.issue_version(db.session, booking, actor=STAFF)
    with pytest.raises(ContractRefused, match="only an accepted contract"):
        services.countersign(db.session, version, booking, staff=staff)
    _accept(version, booking)
    services.countersign(db.session, version, booking, staff=staff)
    assert version.countersigned_by_id == staff.id
    assert version.countersigned_by_name == staff.name
    assert version.countersigned_at is not None
    with pytest.raises(ContractRefused, match="already countersigned"):
        services.countersign(db.session, version, booking, staff=staff)
    # The final document carries both signatures.
    page = document_html(version, booking.reference)
    assert f"{CONTACT}, on behalf of {ORGANIZATION}" in page
    assert staff.name in page
    text = _pdf_text(document_pdf(version, booking.reference), tmp_path)
    assert "Countersigned" in text
    assert f"{staff.name}, " in text
    assert f"{CONTACT}, on behalf of {ORGANIZATION}" in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<p>{% if %}</p>", "line 1"),
        ("<p>{{ nonsense_field }}</p>", "'nonsense_field' is undefined"),
        ("<p>{{ fee.__class__.__mro__ }}</p>", "not allowed: access to attribute '__class__'"),
        ("<p>{{ 1 / 0 }}</p>", "division by zero"),
    ],
)
def test_a_template_that_cannot_render_is_refused_clearly(
    booking: BookingRequest, body: str, message: str
) -> None:
    db.session.add(AgreementTemplate(name="Broken", body=body, active=True))
    db.session.flush()
    with pytest.raises(ContractRefused, match=message):
        services.issue_version(db.session, booking, actor=STAFF)
    assert services.versions_of(db.session, booking) == []


def test_the_sandbox_refuses_reaching_python_internals(app: Flask) -> None:
    with pytest.raises(ContractRefused, match="not allowed"):
        render_body("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(ContractRefused, match="not allowed"):
        render_body("{{ f.__globals__ }}", {"f": render_body})


def test_admins_template_is_checked_saved_and_used(booking: BookingRequest) -> None:
    with pytest.raises(ContractRefused, match="mistake on line 2"):
        services.save_template(db.session, name="Short", body="<p>\n{% for %}</p>", editor=None)
    with pytest.raises(ContractRefused, match="empty"):
        services.save_template(db.session, name="Short", body="  ", editor=None)
    template = services.save_template(
        db.session,
        name="Short",
        body="<p>{{ organizer.organization }} pays {{ fee }} under {{ governing_law }}.</p>",
        editor=None,
    )
    assert template.active
    version = services.issue_version(db.session, booking, actor=STAFF)
    assert version.html == f"<p>{ORGANIZATION} pays USD 12,500 under England and Wales.</p>\n"
    assert version.template_id == template.id
    other = services.save_template(db.session, name="Long", body=default_body(), editor=None)
    db.session.refresh(template)
    assert (template.active, other.active) == (False, True)


# The cancellation schedule -------------------------------------------------------------------

EVENT_DAY = date(2027, 6, 30)
SCHEDULE = parse_schedule(DEFAULT_SCHEDULE)


@pytest.mark.parametrize(
    ("days_before", "kind", "owed", "refund"),
    [
        (200, "costs", Decimal(750), Decimal(5250)),
        (90, "costs", Decimal(750), Decimal(5250)),
        (89, "deposit", Decimal(6000), Decimal(0)),
        (30, "deposit", Decimal(6000), Decimal(0)),
        (29, "fee", Decimal(12500), Decimal(0)),
        (1, "fee", Decimal(12500), Decimal(0)),
        (0, "fee", Decimal(12500), Decimal(0)),
        (-3, "fee", Decimal(12500), Decimal(0)),
    ],
)
def test_what_a_cancellation_costs_by_notice(
    days_before: int, kind: str, owed: Decimal, refund: Decimal
) -> None:
    cancelled = EVENT_DAY - timedelta(days=days_before)
    result = charge(
        SCHEDULE, fee=12500, deposit=6000, event_day=EVENT_DAY, cancelled_on=cancelled, costs=750
    )
    assert (result.notice_days, result.rule.kind, result.owed, result.refund) == (
        days_before,
        kind,
        owed,
        refund,
    )


def test_costs_kept_from_the_deposit_never_exceed_it() -> None:
    result = charge(
        SCHEDULE,
        fee=1000,
        deposit=500,
        event_day=EVENT_DAY,
        cancelled_on=date(2027, 1, 1),
        costs=900,
    )
    assert (result.owed, result.refund) == (Decimal(500), Decimal(0))


def test_a_share_of_the_fee_and_decimal_amounts() -> None:
    schedule = parse_schedule("60=25%, 14=50%; 0=100%")
    assert [rule.days for rule in schedule.rules] == [60, 14, 0]
    result = charge(
        schedule,
        fee=Decimal("999.99"),
        deposit=Decimal("100.00"),
        event_day=EVENT_DAY,
        cancelled_on=EVENT_DAY - timedelta(days=14),
    )
    assert result.owed == Decimal("499.995")
    assert isinstance(result.owed, Decimal)
    assert schedule.lines() == [
        "Cancelled 60 days or more before the event: 25% of the fee is due.",
        "Cancelled 14 to 59 days before the event: 50% of the fee is due.",
        "Cancelled less than 14 days before the event: 100% of the fee is due.",
    ]


def test_the_default_schedule_in_words() -> None:
    assert SCHEDULE.lines() == [
        "Cancelled 90 days or more before the event: the deposit is refunded, less the costs "
        "already incurred.",
        "Cancelled 30 to 89 days before the event: the deposit is kept.",
        "Cancelled less than 30 days before the event: the whole fee is due.",
    ]


def test_notice_is_counted_in_the_events_zone() -> None:
    # 09:00 in Shanghai on 30 June is 01:00 UTC; cancelling at 20:00 UTC on 31 May is already
    # 1 June in Shanghai: 29 days' notice there, though 30 UTC dates apart.
    start = datetime(2027, 6, 30, 1, 0, tzinfo=UTC)
    cancelled = datetime(2027, 5, 31, 20, 0, tzinfo=UTC)
    assert notice_days(start, "Asia/Shanghai", cancelled) == 29
    assert notice_days(start, "UTC", cancelled) == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("90=costs,30=deposit", "needs a rule for 0 days"),
        ("90=costs,90=deposit,0=fee", "same number of days twice"),
        ("90=refund,0=fee", "'90=refund' is not a rule"),
        ("", "'' is not a rule"),
        ("30=150%,0=fee", "more than the fee"),
        ("5000=costs,0=fee", "more than 3650"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_setting(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        parse_schedule(text)
    assert "BUREAU_CANCELLATION_SCHEDULE" in str(error.value)


def test_a_negative_amount_or_a_deposit_over_the_fee_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        charge(SCHEDULE, fee=100, deposit=200, event_day=EVENT_DAY, cancelled_on=EVENT_DAY)
    with pytest.raises(ValueError, match="must not be negative"):
        charge(SCHEDULE, fee=100, deposit=50, event_day=EVENT_DAY, cancelled_on=EVENT_DAY, costs=-1)


# Settings ------------------------------------------------------------------------------------


def test_contract_settings_are_read_and_checked_at_start(tmp_path: Path) -> None:
    base = {"BUREAU_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(base).contracts == ContractSettings()
    settings = load_settings(
        base
        | {
            "BUREAU_GOVERNING_LAW": "the Netherlands",
            "BUREAU_CANCELLATION_SCHEDULE": "60=deposit,0=fee",
            "BUREAU_BALANCE_DUE_DAYS": "0",
        }
    )
    assert settings.contracts == ContractSettings("the Netherlands", "60=deposit,0=fee", 0)
    for name, value in (
        ("BUREAU_CANCELLATION_SCHEDULE", "90=costs"),
        ("BUREAU_BALANCE_DUE_DAYS", "-1"),
        ("BUREAU_BALANCE_DUE_DAYS", "366"),
        ("BUREAU_GOVERNING_LAW", "x" * 201),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings(base | {name: value})


def test_the_running_app_reads_its_contract_settings(app: Flask) -> None:
    with app.app_context():
        assert contract_settings() == ContractSettings()


def test_timeline_entries_of_contracts_are_public(booking: BookingRequest) -> None:
    version = services.issue_version(db.session, booking, actor=STAFF)
    services.decline(db.session, version, booking, reason="Budget")
    entries = db.session.scalars(
        select(BookingEvent)
        .where(BookingEvent.booking_id == booking.id, BookingEvent.action.like("contract %"))
        .order_by(BookingEvent.id)
    ).all()
    assert [(e.action, e.public_message) for e in entries] == [
        ("contract sent", "Contract version 1 sent for your acceptance."),
        ("contract declined", "You declined contract version 1."),
    ]
