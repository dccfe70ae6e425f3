"""The staff request page's forms speak names and offer only what the workflow allows
(issue 16): the shortlist picks speakers by typed name, shows what was sent and asks before
replacing it; the firm offer starts at the organizer's first choice; "Close as" offers the
closings the state allows."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select, update

from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest, RequestedSpeaker
from bureau.bookings.states import CLOSED_STATES, Status
from bureau.bookings.workflow import ALLOWED
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.staff.models import Role, StaffMember
from tests.conftest import reset_bookings
from tests.test_transitions import booking_in
from tests.workflow_helpers import (
    mail_kinds,
    post_form,
    reload,
    sign_in,
    staff_member,
    submit_and_route,
)

STAFF_EMAIL = "forms.admin@bureau.localhost"


@pytest.fixture
def desk(app: Flask) -> FlaskClient:
    """An admin (who may act on every request) working in Berlin time."""
    staff_member(app, STAFF_EMAIL, name="Forms admin", role=Role.ADMIN)
    with app.app_context():
        db.session.execute(
            update(StaffMember)
            .where(StaffMember.email == STAFF_EMAIL)
            .values(timezone="Europe/Berlin")
        )
        db.session.commit()
    client = app.test_client()
    assert sign_in(client, STAFF_EMAIL).status_code == 302
    return client


def rows(*picks: tuple[str, ...]) -> dict[str, str]:
    """The shortlist form's four rows: (typed name, fee quote, home city[, note]) each;
    rows not given are sent blank, as the browser sends them."""
    data: dict[str, str] = {}
    for i in range(4):
        name, fee, city, note = (*picks[i], "", "", "", "")[:4] if i < len(picks) else ("",) * 4
        data |= {
            f"candidates-{i}-speaker": name,
            f"candidates-{i}-fee_quote": fee,
            f"candidates-{i}-home_city": city,
            f"candidates-{i}-note": note,
        }
    return data


THREE = rows(
    ("  kaiser   KUO ", "12000", ""),
    ("Winston Ma", "15000", "New York", "Finance and tech"),
    ("ashley dudarenok", "14000", "Hong Kong"),
)


def shortlisted(app: Flask, booking_id: int) -> list[tuple[str, int, str, str | None]]:
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        return [(e.speaker.slug, e.fee_quote, e.home_city, e.note) for e in booking.shortlist]


def timeline_entries(app: Flask, booking_id: int) -> int:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).where(BookingEvent.booking_id == booking_id))
            or 0
        )


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- the picker


def test_the_picker_offers_names_with_fee_band_home_city_and_reasons(
    app: Flask, desk: FlaskClient
) -> None:
    booking = submit_and_route(app, speakers=["kaiser-kuo"])
    page = text_of(desk.get(f"/staff/requests/{booking.id}"))
    datalist = re.search(r'<datalist id="speaker-list">(.*?)</datalist>', page, re.S)
    assert datalist is not None
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', datalist.group(1)))
    with app.app_context():
        kaiser = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        active = db.session.scalar(select(func.count()).where(Speaker.is_active))
    assert len(options) == active  # every active speaker, by name
    assert "kaiser-kuo" not in options
    detail = options["Kaiser Kuo"]
    assert f"{kaiser.fee_currency} {kaiser.fee_min:,}\u2013{kaiser.fee_max:,}" in detail
    assert kaiser.home_city in detail
    assert "suggested: requested" in detail  # the suggestions' reasons
    # What the page's script puts in a row given this name: the band met with the budget
    # (5,000 to 15,000), and the city as the hint.
    assert '<option value="Kaiser Kuo" data-city="Beijing" data-quote="15000">' in page
    # The rows start from the suggestions, by name: the first is the requested speaker.
    first = re.search(r'id="candidates-0-speaker"[^>]*value="([^"]*)"', page)
    assert first is not None
    assert first.group(1) == "Kaiser Kuo"
    assert 'list="speaker-list"' in page


def test_a_change_to_the_catalogue_shows_on_the_next_page(app: Flask, desk: FlaskClient) -> None:
    """The picker and the speaker lists are kept per catalogue version (copies.py): reused
    while no speaker changes, built afresh on the next page after one does — a rename, a
    speaker withdrawn from the catalogue — in the datalist, the firm offer's list and the
    dashboard's filter alike, and typed names resolve by the new list."""
    from bureau.catalogue.copies import per_catalogue
    from bureau.catalogue.queries import active_speaker_choices

    booking = submit_and_route(app, speakers=["kaiser-kuo"])
    path = f"/staff/requests/{booking.id}"

    def lists() -> tuple[str, str, str]:
        page = text_of(desk.get(path))
        datalist = re.search(r'<datalist id="speaker-list">(.*?)</datalist>', page, re.S)
        offer = re.search(r'<select[^>]*id="staff-offer-speaker".*?</select>', page, re.S)
        board = text_of(desk.get("/staff/"))
        dashboard = re.search(r'<select class="form-select" id="speaker".*?</select>', board, re.S)
        assert datalist is not None
        assert offer is not None
        assert dashboard is not None  # the filter by speaker
        return datalist.group(1), offer.group(0), dashboard.group(0)

    def kaiser(**values: Any) -> None:
        with app.app_context():
            db.session.execute(update(Speaker).where(Speaker.slug == "kaiser-kuo").values(**values))
            db.session.commit()

    with app.test_request_context():
        versions: list[str] = []

        def on_statement(*args: Any) -> None:
            versions.extend([args[2]] if "max(speakers.updated_at)" in args[2] else [])

        event.listen(db.engine, "before_cursor_execute", on_statement)
        try:
            first = active_speaker_choices(db.session)
            assert active_speaker_choices(db.session) is first  # unchanged: the copy
        finally:
            event.remove(db.engine, "before_cursor_execute", on_statement)
        assert len(versions) == 1  # the catalogue's version, read once in a transaction
        built: list[int] = []

        def build(_session: object) -> int:
            built.append(len(built) + 1)
            return built[-1]

        assert per_catalogue(db.session, "a test's", build) == 1
        assert per_catalogue(db.session, "a test's", build) == 1  # kept, not built again
        assert built == [1]
    datalist, offer, dashboard = lists()
    assert 'value="Kaiser Kuo"' in datalist
    assert ">Kaiser Kuo<" in offer
    assert ">Kaiser Kuo<" in dashboard
    try:
        kaiser(name=RENAMED)
        datalist, offer, dashboard = lists()
        raw = desk.get(path).get_data(as_text=True) + desk.get("/staff/").get_data(as_text=True)
        assert "<Kuo>" not in raw  # escaped in each list, attribute and text alike
        assert raw.count("Kaiser &#34;Q&#34; &lt;Kuo&gt;") >= 3
        assert f'value="{RENAMED}"' in datalist  # (unescaped by text_of)
        assert 'value="Kaiser Kuo"' not in datalist
        assert f">{RENAMED}<" in offer
        assert f">{RENAMED}<" in dashboard
        with app.test_request_context():
            assert active_speaker_choices(db.session) is not first
        kaiser(is_active=False)
        datalist, offer, dashboard = lists()
        assert RENAMED not in datalist + offer + dashboard
        response = post_form(
            desk, f"{path}/shortlist", path, rows((RENAMED, "12000"), *THREE_OTHERS)
        )
        assert f"No active speaker is called “{RENAMED}”" in text_of(response)
    finally:
        kaiser(name="Kaiser Kuo", is_active=True)
    assert 'value="Kaiser Kuo"' in lists()[0]


THREE_OTHERS = (("Winston Ma", "15000"), ("ashley dudarenok", "14000"))
RENAMED = 'Kaiser "Q" <Kuo>'  # a name to escape


def test_typed_names_resolve_whatever_their_case_and_spacing(app: Flask, desk: FlaskClient) -> None:
    booking = submit_and_route(app)
    path = f"/staff/requests/{booking.id}"
    response = post_form(desk, f"{path}/shortlist", path, THREE)
    assert response.status_code == 303, text_of(response)[-2000:]
    assert reload(app, booking.id).status == Status.SHORTLISTED
    with app.app_context():
        kaiser_city = db.session.scalar(
            select(Speaker.home_city).where(Speaker.slug == "kaiser-kuo")
        )
    assert shortlisted(app, booking.id) == [
        ("kaiser-kuo", 12000, kaiser_city, None),  # a blank home city: the catalogue's
        ("winston-ma", 15000, "New York", "Finance and tech"),
        ("ashley-dudarenok", 14000, "Hong Kong", None),
    ]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("Kaiser Ku", "No active speaker is called “Kaiser Ku”: pick a name from the list."),
        ("Nobody   At All", "No active speaker is called “Nobody At All”"),
    ],
)
def test_an_unknown_name_is_named_and_changes_nothing(
    app: Flask, desk: FlaskClient, typed: str, message: str
) -> None:
    booking = submit_and_route(app)
    path = f"/staff/requests/{booking.id}"
    before = timeline_entries(app, booking.id)
    data = rows(
        (typed, "12000", "Beijing"),
        ("Winston Ma", "15000", "New York"),
        ("Ashley Dudarenok", "14000", "Hong Kong"),
    )
    response = post_form(desk, f"{path}/shortlist", path, data)
    assert response.status_code == 422
    page = text_of(response)
    assert f"Candidate 1: {message}" in page  # the message at the top names the row
    assert "Nothing was sent." in page
    field = re.search(r'id="candidates-0-speaker"[^>]*>\s*<div class="invalid-feedback', page)
    assert field is not None, "the message is not at the field"
    assert reload(app, booking.id).status == Status.ASSIGNED
    assert shortlisted(app, booking.id) == []
    assert timeline_entries(app, booking.id) == before
    assert ("mail.proposal", "li.na@example.com") not in mail_kinds(app, booking.id)


@pytest.fixture
def second_kaiser(app: Flask) -> Iterator[None]:
    """Another active speaker called Kaiser Kuo, in Berlin."""
    with app.app_context():
        db.session.add(
            Speaker(
                slug="kaiser-kuo-berlin",
                name="Kaiser  Kuo",
                headline="Namesake",
                bio="Another Kaiser Kuo.",
                home_city="Berlin",
                home_country="DE",
                home_timezone="Europe/Berlin",
                fee_min=5000,
                fee_max=9000,
                fee_currency="EUR",
            )
        )
        db.session.commit()
    yield
    reset_bookings(app)  # the shortlist naming them goes first
    with app.app_context():
        db.session.execute(delete(Speaker).where(Speaker.slug == "kaiser-kuo-berlin"))
        db.session.commit()


def test_an_ambiguous_name_is_refused_and_the_list_tells_them_apart(
    app: Flask, desk: FlaskClient, second_kaiser: None
) -> None:
    booking = submit_and_route(app)
    path = f"/staff/requests/{booking.id}"
    page = text_of(desk.get(path))
    assert '<option value="Kaiser Kuo (Berlin)" ' in page
    assert '<option value="Kaiser Kuo (Beijing)" ' in page
    assert '<option value="Kaiser Kuo" ' not in page

    response = post_form(desk, f"{path}/shortlist", path, THREE)
    assert response.status_code == 422
    assert (
        "Candidate 1: 2 speakers are called “Kaiser Kuo”: pick one of “Kaiser Kuo (Beijing)”;"
        " “Kaiser Kuo (Berlin)”." in text_of(response)
    )
    assert shortlisted(app, booking.id) == []

    data = THREE | {"candidates-0-speaker": "kaiser kuo (berlin)"}
    response = post_form(desk, f"{path}/shortlist", path, data)
    assert response.status_code == 303
    assert shortlisted(app, booking.id)[0][:3] == ("kaiser-kuo-berlin", 12000, "Berlin")


def test_a_name_twice_or_without_a_fee_is_named(app: Flask, desk: FlaskClient) -> None:
    booking = submit_and_route(app)
    path = f"/staff/requests/{booking.id}"
    data = rows(
        ("Kaiser Kuo", "12000", ""),
        ("kaiser kuo", "12000", ""),
        ("Winston Ma", "", "New York"),
        ("Ashley Dudarenok", "14000", ""),
    )
    response = post_form(desk, f"{path}/shortlist", path, data)
    assert response.status_code == 422
    page = text_of(response)
    assert "Candidate 2: Kaiser Kuo is on the shortlist twice." in page
    assert "Candidate 3: give Winston Ma's fee quote." in page
    assert shortlisted(app, booking.id) == []


# --- what was sent, and replacing it


def test_the_form_shows_what_was_sent_and_replacing_it_needs_a_tick(
    app: Flask, desk: FlaskClient
) -> None:
    booking = submit_and_route(app)
    path = f"/staff/requests/{booking.id}"
    assert "Replace the shortlist the organizer has" not in text_of(desk.get(path))
    assert post_form(desk, f"{path}/shortlist", path, THREE).status_code == 303
    first = shortlisted(app, booking.id)

    page = text_of(desk.get(path))
    sent = re.search(r'<div class="mb-3" id="shortlist-sent">(.*?)</div>', page, re.S)
    assert sent is not None
    assert re.search(
        r"Sent to the organizer on \w{3} \d+ \w{3} \d{4}, \d\d:\d\d \(Berlin\)", sent[1]
    )
    assert "Winston Ma · USD 15,000 · New York · “Finance and tech”" in sent[1]
    assert "Kaiser Kuo · USD 12,000" in sent[1]
    assert "Ashley Dudarenok · USD 14,000 · Hong Kong" in sent[1]
    assert "Replace the shortlist the organizer has" in page
    # The form starts from what was sent, by name.
    assert re.search(r'id="candidates-1-speaker"[^>]*value="Winston Ma"', page)
    assert re.search(r'id="candidates-1-note"[^>]*value="Finance and tech"', page)
    # The catalogue's city is the city field's hint, not its value (a blank city is it).
    city = re.search(r'<input[^>]*id="candidates-1-home_city"[^>]*>', page)
    assert city is not None
    assert 'placeholder="New York"' in city.group(0)
    assert 'value=""' in city.group(0)

    entries = timeline_entries(app, booking.id)
    again = THREE | {"candidates-2-speaker": "Fons Tuinstra"}
    refused = post_form(desk, f"{path}/shortlist", path, again)
    assert refused.status_code == 422
    message = text_of(refused)
    assert "Li Na already has a shortlist, sent " in message
    assert "this one would replace it. Tick “Replace the shortlist the organizer has”" in message
    assert shortlisted(app, booking.id) == first
    assert timeline_entries(app, booking.id) == entries
    assert mail_kinds(app, booking.id).count(("mail.proposal", "li.na@example.com")) == 1

    replaced = post_form(desk, f"{path}/shortlist", path, again | {"replace": "y"})
    assert replaced.status_code == 303
    assert "in place of the previous one" in text_of(desk.get(path))
    assert [slug for slug, *_ in shortlisted(app, booking.id)] == [
        "kaiser-kuo",
        "winston-ma",
        "fons-tuinstra",
    ]
    assert mail_kinds(app, booking.id).count(("mail.proposal", "li.na@example.com")) == 2


# --- the firm offer


QUOTES = {
    "Kaiser Kuo": ("12000", "Beijing"),
    "Winston Ma": ("15000", "New York"),
    "Ashley Dudarenok": ("14000", "Hong Kong"),
}


def send_shortlist(client: FlaskClient, booking_id: int, *names: str) -> Any:
    path = f"/staff/requests/{booking_id}"
    data = rows(*((name, *QUOTES[name]) for name in names))
    return post_form(client, f"{path}/shortlist", path, data)


def offer_select(page: str) -> tuple[list[str], list[str]]:
    """The staff offer form's speaker options (values) and the selected ones."""
    select_html = re.search(r'<select[^>]*id="staff-offer-speaker".*?</select>', page, re.S)
    assert select_html is not None, "no staff offer form"
    options = re.findall(r'<option value="([^"]+)"( selected)?>', select_html.group(0))
    return [v for v, _ in options], [v for v, chosen in options if chosen]


def test_the_offer_starts_at_the_organizers_first_choice_on_the_shortlist(
    app: Flask, desk: FlaskClient
) -> None:
    # The organizer asked for Winston Ma, then Kaiser Kuo; the shortlist lists Kaiser first.
    booking = submit_and_route(app, speakers=["winston-ma", "kaiser-kuo"])
    sent = send_shortlist(desk, booking.id, "Kaiser Kuo", "Winston Ma", "Ashley Dudarenok")
    assert sent.status_code == 303
    options, chosen = offer_select(text_of(desk.get(f"/staff/requests/{booking.id}")))
    # While the organizer chooses from the shortlist, only the shortlist can be offered.
    assert options == ["kaiser-kuo", "winston-ma", "ashley-dudarenok"]
    assert chosen == ["winston-ma"]


def test_without_a_wished_speaker_on_the_shortlist_its_first_is_chosen(
    app: Flask, desk: FlaskClient
) -> None:
    booking = submit_and_route(app, speakers=["rupert-hoogewerf"])
    path = f"/staff/requests/{booking.id}"
    options, chosen = offer_select(text_of(desk.get(path)))
    assert chosen == ["rupert-hoogewerf"]  # no shortlist yet: the organizer's wish
    assert len(options) > 3  # and the whole catalogue
    sent = send_shortlist(desk, booking.id, "Ashley Dudarenok", "Kaiser Kuo", "Winston Ma")
    assert sent.status_code == 303
    _, chosen = offer_select(text_of(desk.get(path)))
    assert chosen == ["ashley-dudarenok"]


def test_after_a_decline_the_shortlist_comes_first_and_not_the_speaker_who_declined(
    app: Flask, desk: FlaskClient
) -> None:
    # Shortlist Winston Ma, Kaiser Kuo, Ashley Dudarenok; Kaiser Kuo was offered and said no.
    with app.app_context():
        booking = booking_in(db.session, Status.SPEAKER_DECLINED)
        booking_id = booking.id
        assert booking.offer is not None
        assert booking.offer.speaker.slug == "kaiser-kuo"
        # The organizer had wished for Kaiser Kuo first.
        db.session.execute(
            update(RequestedSpeaker)
            .where(RequestedSpeaker.booking_id == booking_id)
            .values(speaker_id=booking.offer.speaker_id)
        )
        db.session.commit()
    options, chosen = offer_select(text_of(desk.get(f"/staff/requests/{booking_id}")))
    assert options[:3] == ["winston-ma", "kaiser-kuo", "ashley-dudarenok"]
    assert len(options) > 3  # another speaker may be offered now
    assert chosen == ["winston-ma"]


# --- closing


CLOSING_LABELS = {
    "declined": "Declined by the bureau",
    "withdrawn": "Withdrawn by the organizer",
    "cancelled": "Cancelled",
}


@pytest.mark.parametrize("state", list(Status), ids=str)
def test_close_offers_only_the_closings_the_state_allows(
    app: Flask, desk: FlaskClient, state: Status
) -> None:
    with app.app_context():
        booking_id = booking_in(db.session, state).id
    page = text_of(desk.get(f"/staff/requests/{booking_id}"))
    found = re.search(r'<select[^>]*name="to".*?</select>', page, re.S)
    allowed = [s.value for s in actions.CLOSINGS if s in ALLOWED[state]]
    if state in CLOSED_STATES:
        assert found is None
        return
    assert found is not None
    assert re.findall(r'<option[^>]*value="(\w+)"', found.group(0)) == allowed
    for value in allowed:
        assert CLOSING_LABELS[value] in found.group(0)


def test_a_closing_the_state_does_not_allow_is_refused_saying_why(
    app: Flask, desk: FlaskClient
) -> None:
    with app.app_context():
        booking = booking_in(db.session, Status.CONFIRMED)
        booking_id, reference = booking.id, booking.reference
    path = f"/staff/requests/{booking_id}"
    before = timeline_entries(app, booking_id)
    refused = post_form(desk, f"{path}/close", path, {"to": "declined", "reason": "No"})
    assert refused.status_code == 422
    assert (
        f"{reference} is confirmed: it can be cancelled, not declined. Nothing was changed."
        in text_of(refused)
    )
    nonsense = post_form(desk, f"{path}/close", path, {"to": "vanished", "reason": "No"})
    assert nonsense.status_code == 422
    assert "Choose how to close the request." in text_of(nonsense)
    assert reload(app, booking_id).status == Status.CONFIRMED
    assert reload(app, booking_id).closed_reason is None
    assert timeline_entries(app, booking_id) == before

    done = post_form(desk, f"{path}/close", path, {"to": "cancelled", "reason": "Venue lost"})
    assert done.status_code == 303
    assert reload(app, booking_id).status == Status.CANCELLED


def test_the_options_filter_marks_the_choice_in_a_kept_rendering_as_in_a_fresh_one() -> None:
    """templating.options renders a tuple (a catalogue's kept list) once and then only marks
    the choice: the same HTML as a list rendered afresh, escaped, one option selected."""
    from bureau import templating

    pairs = (("a", "A <1>"), ("b&", 'B "2"'), ("c", "C"))
    for chosen in ("", "a", "b&", "c", "not there"):
        kept = templating.options(pairs, chosen)
        assert kept == templating.options(list(pairs), chosen), chosen
        assert kept.count(" selected") == (chosen in dict(pairs))
    assert templating._rendered[id(pairs)][0] is pairs  # kept, and reused above
    assert 'value="b&amp;" selected>B &#34;2&#34;</option>' in templating.options(pairs, "b&")
    assert "<1>" not in templating.options(pairs)
