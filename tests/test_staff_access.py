"""Who may open and use each staff page: anonymous visitors, agents, the assigned agent, admins.

The access table below names every route under /staff with the rule it follows; a route added
without a rule fails ``test_every_staff_route_has_an_access_rule``.
"""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.catalogue.models import Post, Speaker, Topic
from bureau.contracts.models import ContractVersion
from bureau.contracts.render import sha256_of
from bureau.errors import ADMINS_ONLY
from bureau.extensions import db
from bureau.inbound.models import MatchedBy
from bureau.inbound.services import attach, receive_raw
from bureau.mail.models import Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.outbox import Job, JobState
from bureau.staff.models import Role
from tests.test_billing import issue
from tests.workflow_helpers import csrf_from, sign_in, staff_member, submit_and_route

ADMIN = "management@bureau.localhost"
AGENT = "china.desk@bureau.localhost"  # the agent the test request is assigned to
OTHER = "europe.desk@bureau.localhost"  # an agent the request is not assigned to

PUBLIC, STAFF, ACT, ADMIN_ONLY = "public", "staff", "act", "admin"
# (rule, method) -> who may use it:
#   public  anyone (the sign-in page);
#   staff   every signed-in staff member;
#   act     admins, and the agent the request (or the email's request) is assigned to;
#   admin   admins only.
ACCESS: dict[tuple[str, str], str] = {
    ("/staff/login", "GET"): PUBLIC,
    ("/staff/login", "POST"): PUBLIC,
    ("/staff/logout", "POST"): STAFF,
    ("/staff/password", "GET"): STAFF,
    ("/staff/password", "POST"): STAFF,
    ("/staff/timezone", "POST"): STAFF,
    ("/staff/language", "POST"): STAFF,
    ("/staff/", "GET"): STAFF,
    ("/staff/requests.csv", "GET"): STAFF,
    ("/staff/requests/<id:booking_id>", "GET"): STAFF,
    ("/staff/mail", "GET"): STAFF,
    ("/staff/mail/<id:notification_id>", "GET"): ACT,
    ("/staff/mail/<id:notification_id>/resend", "POST"): ACT,
    # Triage: any staff member; attaching needs a request they may act on (tests/test_inbound.py).
    ("/staff/inbox", "GET"): STAFF,
    ("/staff/inbox/<id:inbound_id>/attach", "POST"): STAFF,
    ("/staff/inbox/<id:inbound_id>/discard", "POST"): STAFF,
    ("/staff/inbox/<id:inbound_id>/raw", "GET"): ADMIN_ONLY,
    ("/staff/requests/<id:booking_id>/emails/<id:message_id>/files/<id:number>", "GET"): ACT,
    ("/staff/requests/<id:booking_id>/reply", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/note", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/reassign", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/shortlist", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/offer", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/availability", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/contract", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/confirm", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/complete", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/close", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/reschedule", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/send_contract", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/countersign", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/void_contract", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/contract/<id:number>", "GET"): STAFF,
    ("/staff/requests/<id:booking_id>/contract/<id:number>.pdf", "GET"): STAFF,
    ("/staff/requests/<id:booking_id>/payout", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/invoice_issue", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/invoice_void", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/invoice_payment", "POST"): ACT,
    ("/staff/requests/<id:booking_id>/invoices/<id:invoice_id>", "GET"): ACT,
    ("/staff/requests/<id:booking_id>/invoices/<id:invoice_id>.pdf", "GET"): ACT,
    ("/staff/calendar", "GET"): STAFF,
    ("/staff/calendar/rotate", "POST"): STAFF,
    ("/staff/insights", "GET"): STAFF,
    ("/staff/insights/invoices.csv", "GET"): ADMIN_ONLY,
    ("/staff/requests/<id:booking_id>/correct", "POST"): ADMIN_ONLY,
    ("/staff/speakers", "GET"): ADMIN_ONLY,
    ("/staff/speakers/new", "GET"): ADMIN_ONLY,
    ("/staff/speakers/new", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/edit", "GET"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/edit", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/active", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/feed", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/calendar", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/calendar/fetch", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/calendar/disconnect", "POST"): ADMIN_ONLY,
    ("/staff/speakers/<id:speaker_id>/blackouts", "POST"): ADMIN_ONLY,
    ("/staff/topics", "GET"): ADMIN_ONLY,
    ("/staff/topics", "POST"): ADMIN_ONLY,
    ("/staff/topics/<id:topic_id>/edit", "GET"): ADMIN_ONLY,
    ("/staff/topics/<id:topic_id>/edit", "POST"): ADMIN_ONLY,
    ("/staff/posts", "GET"): ADMIN_ONLY,
    ("/staff/posts/new", "GET"): ADMIN_ONLY,
    ("/staff/posts/new", "POST"): ADMIN_ONLY,
    ("/staff/posts/<id:post_id>/edit", "GET"): ADMIN_ONLY,
    ("/staff/posts/<id:post_id>/edit", "POST"): ADMIN_ONLY,
    ("/staff/privacy", "GET"): ADMIN_ONLY,
    ("/staff/privacy/export", "POST"): ADMIN_ONLY,
    ("/staff/privacy/erase", "POST"): ADMIN_ONLY,
    ("/staff/ops", "GET"): ADMIN_ONLY,
    ("/staff/ops/jobs/<id:job_id>/retry", "POST"): ADMIN_ONLY,
    ("/staff/ops/retry-failed", "POST"): ADMIN_ONLY,
    ("/staff/agreements", "GET"): ADMIN_ONLY,
    ("/staff/agreements", "POST"): ADMIN_ONLY,
}
PARAMETER = re.compile(r"<id:(\w+)>")
AGREEMENT = "<p>The agreement, version 1.</p>\n"  # a contract version to read


def routes(*kinds: str, method: str | None = None) -> list[Any]:
    return [
        pytest.param(rule, verb, id=f"{verb} {rule}")
        for (rule, verb), kind in ACCESS.items()
        if kind in kinds and (method is None or verb == method)
    ]


def staff_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/staff")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def fill(rule: str, ids: dict[str, int]) -> str:
    return PARAMETER.sub(lambda found: str(ids[found.group(1)]), rule)


def token(client: FlaskClient) -> str:
    """A CSRF token valid for this client's session (the sign-in page always has one)."""
    return csrf_from(client.get("/staff/login").get_data(as_text=True))


def send(client: FlaskClient, method: str, path: str, **data: str) -> Any:
    if method == "GET":
        return client.get(path)
    return client.post(path, data={"csrf_token": token(client), **data})


STAFF_NAV = 'aria-label="Staff"'  # the staff layout's navigation (staff/_layout.html)


def staff_error(response: Any, says: str) -> None:
    """An error page inside the staff layout: its navigation, what happened, the way back."""
    page = response.get_data(as_text=True)
    assert STAFF_NAV in page
    assert says in page
    assert 'href="/staff/">Back to your queue</a>' in page
    assert "no-store" in response.headers.get("Cache-Control", "")


def sent_to_sign_in(response: Any) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (302, 303) and urlsplit(location).path == "/staff/login"


# --- fixtures


@pytest.fixture(scope="module")
def people(app: Flask) -> dict[str, int]:
    return {
        "admin": staff_member(app, ADMIN, role=Role.ADMIN),
        "agent": staff_member(app, AGENT),
        "other": staff_member(app, OTHER),
    }


@pytest.fixture(scope="module")
def clients(app: Flask, people: dict[str, int]) -> dict[str, FlaskClient]:
    """One signed-in client per person, for the whole module (nobody here signs out)."""
    signed_in = {}
    for who, email in (("admin", ADMIN), ("agent", AGENT), ("other", OTHER)):
        client = app.test_client()
        response = sign_in(client, email)
        assert response.status_code == 302, response.get_data(as_text=True)
        signed_in[who] = client
    return signed_in


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ids(app: Flask, people: dict[str, int]) -> dict[str, int]:
    """A request assigned to AGENT, a failed email about it, a speaker and a weblog post."""
    booking_id = submit_and_route(app).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        booking.assigned_staff_id = people["agent"]
        booking.status = Status.ASSIGNED
        job = db.session.scalars(
            select(Job).where(Job.booking_id == booking_id, Job.task == MAIL_TASK).order_by(Job.id)
        ).first()
        job.state = JobState.FAILED
        notification = Notification(
            job_id=job.id,
            booking_id=booking_id,
            template="acknowledgement",
            recipient=job.recipient,
            subject="Your request",
            message_id=f"<{uuid.uuid4().hex}@bureau.test>",
            raw_message="Subject: Your request\r\n\r\nThank you.\r\n",
        )
        db.session.add(notification)
        db.session.add(
            ContractVersion(
                booking_id=booking_id, number=1, html=AGREEMENT, sha256=sha256_of(AGREEMENT)
            )
        )
        invoice = issue(booking, net="100")
        inbound = receive_raw(db.session, b"Subject: Hello\r\n\r\nHi.\r\n", source="pipe")
        reply = receive_raw(db.session, with_a_file(), source="pipe")
        attach(db.session, reply, booking, matched_by=MatchedBy.STAFF)
        db.session.commit()
        return {
            "inbound_id": inbound.id,
            "message_id": reply.id,
            "invoice_id": invoice.id,
            "booking_id": booking_id,
            "number": 1,
            "notification_id": notification.id,
            "job_id": job.id,
            "speaker_id": db.session.scalars(select(Speaker.id).order_by(Speaker.id)).first(),
            "post_id": db.session.scalars(select(Post.id).order_by(Post.id)).first(),
            "topic_id": db.session.scalars(select(Topic.id).order_by(Topic.id)).first(),
        }


def with_a_file() -> bytes:
    """A reply carrying one PDF (a file staff may download from the timeline)."""
    message = EmailMessage()
    message["Subject"] = "The programme"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content("Attached.")
    message.add_attachment(
        b"%PDF-1.4 test", maintype="application", subtype="pdf", filename="p.pdf"
    )
    return bytes(message)


def snapshot(app: Flask, booking_id: int) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        return {
            "status": booking.status,
            "version": booking.version,
            "assigned": booking.assigned_staff_id,
            "events": db.session.scalar(
                select(func.count())
                .select_from(BookingEvent)
                .where(BookingEvent.booking_id == booking_id)
            ),
            "jobs": sorted(
                (job.kind, job.recipient or "", job.state)
                for job in db.session.scalars(select(Job).where(Job.booking_id == booking_id))
            ),
            "speakers": sorted(
                db.session.execute(select(Speaker.slug, Speaker.is_active, Speaker.name)).all()
            ),
            "topics": sorted(
                db.session.execute(select(Topic.slug, Topic.name, Topic.name_zh)).all()
            ),
            "posts": sorted(db.session.execute(select(Post.slug, Post.title)).all()),
        }


# --- the table is complete


def test_every_staff_route_has_an_access_rule(app: Flask) -> None:
    found = staff_routes(app)
    assert found - set(ACCESS) == set(), "routes under /staff without an access rule"
    assert set(ACCESS) - found == set(), "access rules for routes that no longer exist"


# --- anonymous visitors


def test_the_sign_in_page_is_open(anonymous: FlaskClient) -> None:
    response = anonymous.get("/staff/login")
    assert response.status_code == 200
    assert "Staff sign-in" in response.get_data(as_text=True)


@pytest.mark.parametrize(("rule", "method"), routes(STAFF, ACT, ADMIN_ONLY))
def test_anonymous_visitors_are_sent_to_sign_in(
    app: Flask, anonymous: FlaskClient, ids: dict[str, int], rule: str, method: str
) -> None:
    before = snapshot(app, ids["booking_id"])
    path = fill(rule, ids)
    response = send(anonymous, method, path, version=str(before["version"]), text="x")
    assert sent_to_sign_in(response), (response.status_code, response.headers.get("Location"))
    assert snapshot(app, ids["booking_id"]) == before


def test_the_sign_in_redirect_remembers_the_page(anonymous: FlaskClient) -> None:
    response = anonymous.get("/staff/mail?state=failed")
    assert sent_to_sign_in(response)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["next"] == ["/staff/mail?state=failed"]


# --- agents


@pytest.mark.parametrize(("rule", "method"), routes(ADMIN_ONLY))
def test_agents_are_refused_admin_pages(
    app: Flask, clients: dict[str, FlaskClient], ids: dict[str, int], rule: str, method: str
) -> None:
    """Even the agent the request is assigned to: correcting a state is for admins."""
    before = snapshot(app, ids["booking_id"])
    response = send(
        clients["agent"],
        method,
        fill(rule, ids),
        version=str(before["version"]),
        status=Status.CONFIRMED.value,
        reason="testing",
        slug="agent-made",
        name="Agent made",
    )
    assert response.status_code == 403
    staff_error(response, ADMINS_ONLY)
    assert snapshot(app, ids["booking_id"]) == before


@pytest.mark.parametrize(("rule", "method"), routes(ACT))
def test_agents_cannot_act_on_a_request_assigned_to_someone_else(
    app: Flask, clients: dict[str, FlaskClient], ids: dict[str, int], rule: str, method: str
) -> None:
    before = snapshot(app, ids["booking_id"])
    response = send(
        clients["other"],
        method,
        fill(rule, ids),
        version=str(before["version"]),
        text="not mine",
        to=Status.DECLINED.value,
        reason="not mine",
        hold_days="7",
    )
    assert response.status_code == 403
    staff_error(response, "Only the agent assigned to this")
    assert snapshot(app, ids["booking_id"]) == before


def test_a_reader_who_may_not_act_sees_the_request_without_its_forms(
    clients: dict[str, FlaskClient], ids: dict[str, int]
) -> None:
    """Forms are built for those who may use them: another agent reads the request (its
    details and timeline) with none of the step forms, its suggestions or its picker."""
    path = f"/staff/requests/{ids['booking_id']}"
    steps = ('id="shortlist-step"', 'id="speaker-list"', 'id="offer-step"', 'id="note-step"')
    mine = clients["agent"].get(path)
    theirs = clients["other"].get(path)
    assert mine.status_code == theirs.status_code == 200
    assert all(step in mine.text for step in steps)
    assert "You can read this request; only its assignee or an admin can act" in theirs.text
    assert not any(step in theirs.text for step in steps)
    assert 'id="timeline"' in theirs.text
    assert 'id="request-heading"' in theirs.text


@pytest.mark.parametrize("who", ["agent", "other", "admin"])
@pytest.mark.parametrize(("rule", "method"), routes(STAFF, method="GET"))
def test_every_staff_member_sees_the_shared_pages(
    clients: dict[str, FlaskClient], ids: dict[str, int], rule: str, method: str, who: str
) -> None:
    response = clients[who].get(fill(rule, ids))
    assert response.status_code == 200


@pytest.mark.parametrize("who", ["agent", "admin"])
@pytest.mark.parametrize(("rule", "method"), routes(ACT))
def test_the_assigned_agent_and_admins_get_past_the_access_check(
    app: Flask,
    clients: dict[str, FlaskClient],
    ids: dict[str, int],
    rule: str,
    method: str,
    who: str,
) -> None:
    """Without the step's fields most of these answer 422; what matters is that they answer."""
    version = snapshot(app, ids["booking_id"])["version"]
    response = send(clients[who], method, fill(rule, ids), version=str(version))
    assert response.status_code != 403
    assert not sent_to_sign_in(response)
    assert response.status_code in (200, 303, 422), response.status_code


@pytest.mark.parametrize("who", ["agent", "admin"])
def test_the_assigned_agent_and_admins_may_add_a_note(
    app: Flask,
    clients: dict[str, FlaskClient],
    people: dict[str, int],
    ids: dict[str, int],
    who: str,
) -> None:
    booking_id = ids["booking_id"]
    version = snapshot(app, booking_id)["version"]
    text = f"Called the organizer ({who})"
    response = send(
        clients[who], "POST", f"/staff/requests/{booking_id}/note", version=str(version), text=text
    )
    assert response.status_code == 303
    with app.app_context():
        notes = db.session.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id == booking_id, BookingEvent.action == "note"
            )
        ).all()
        assert [(n.details["text"], n.actor_kind, n.actor_id) for n in notes] == [
            (text, "staff", people[who])
        ]
        assert notes[0].public_message is None  # internal: the organizer never sees it
    assert text in clients[who].get(f"/staff/requests/{booking_id}").get_data(as_text=True)


def test_only_admins_choose_a_named_person_in_reassign(
    app: Flask, clients: dict[str, FlaskClient], people: dict[str, int], ids: dict[str, int]
) -> None:
    booking_id = ids["booking_id"]
    path = f"/staff/requests/{booking_id}/reassign"
    before = snapshot(app, booking_id)
    refused = send(
        clients["agent"],
        "POST",
        path,
        version=str(before["version"]),
        staff_id=str(people["other"]),
    )
    assert refused.status_code == 403
    assert snapshot(app, booking_id) == before

    done = send(
        clients["admin"],
        "POST",
        path,
        version=str(before["version"]),
        staff_id=str(people["other"]),
    )
    assert done.status_code == 303
    after = snapshot(app, booking_id)
    assert after["assigned"] == people["other"]
    assert after["version"] == before["version"] + 1
    assert ("mail.assigned", OTHER, "pending") in after["jobs"]


def test_the_assigned_agent_may_hand_back_to_the_routing_rules(
    app: Flask, clients: dict[str, FlaskClient], ids: dict[str, int]
) -> None:
    booking_id = ids["booking_id"]
    before = snapshot(app, booking_id)
    response = send(
        clients["agent"],
        "POST",
        f"/staff/requests/{booking_id}/reassign",
        version=str(before["version"]),
        staff_id="rules",
    )
    assert response.status_code == 303
    with app.app_context():
        actions = db.session.scalars(
            select(BookingEvent.action)
            .where(BookingEvent.booking_id == booking_id)
            .order_by(BookingEvent.id)
        ).all()
    assert actions[-1] == "reassigned"


@pytest.mark.parametrize(
    "page", ["/staff/speakers/{speaker_id}/edit", "/staff/posts/{post_id}/edit"]
)
def test_agents_cannot_reach_admin_pages_by_editing_ids(
    clients: dict[str, FlaskClient], ids: dict[str, int], page: str
) -> None:
    path = page.format(**ids)
    assert clients["agent"].get(path).status_code == 403
    assert clients["other"].get(path).status_code == 403
    assert clients["admin"].get(path).status_code == 200


# --- admins


@pytest.mark.parametrize(("rule", "method"), routes(ADMIN_ONLY))
def test_admins_use_the_admin_pages(
    app: Flask, clients: dict[str, FlaskClient], ids: dict[str, int], rule: str, method: str
) -> None:
    version = snapshot(app, ids["booking_id"])["version"]
    response = send(clients["admin"], method, fill(rule, ids), version=str(version))
    if method == "GET":
        assert response.status_code == 200
    else:  # without fields: refused with the form's errors, or (toggling) done
        assert response.status_code in (303, 422), response.status_code


@pytest.mark.parametrize(
    ("rule", "method"),
    [p for p in routes(STAFF, ACT, ADMIN_ONLY) if PARAMETER.search(p.values[0])],
)
def test_unknown_ids_are_not_found_for_admins(
    app: Flask, clients: dict[str, FlaskClient], ids: dict[str, int], rule: str, method: str
) -> None:
    missing = dict.fromkeys(ids, 987_654)
    response = send(clients["admin"], method, fill(rule, missing), version="1")
    assert response.status_code == 404
    about = {"booking_id": "No request with that number.", "notification_id": "No email with"}
    named = PARAMETER.search(rule)
    staff_error(response, about.get(named.group(1) if named else "", "There is nothing at"))


def test_error_pages_keep_the_staff_navigation_in_the_staff_area_only(
    clients: dict[str, FlaskClient], anonymous: FlaskClient, people: dict[str, int]
) -> None:
    missing = clients["agent"].get("/staff/no-such-page")
    assert missing.status_code == 404
    staff_error(missing, "There is nothing at this address in the staff area.")
    for odd in ("/staff/requests/abc", "/staff/requests/" + "9" * 30, "/staff/mail/x1"):
        response = clients["agent"].get(odd)
        assert response.status_code == 404, odd
        staff_error(response, "There is nothing at this address in the staff area.")
    wrong_method = clients["agent"].get("/staff/logout")
    assert wrong_method.status_code == 405
    staff_error(wrong_method, "This address does not accept that method.")
    others = clients["agent"].get(f"/staff/insights?staff={people['other']}")
    assert others.status_code == 403
    staff_error(others, ADMINS_ONLY)
    assert "sign out and sign in as an admin" in others.get_data(as_text=True)
    # Public pages keep the public error page, signed in or not; so does a visitor who is
    # not signed in at a staff address (no staff navigation to keep).
    for response in (
        clients["agent"].get("/no-such-page"),
        clients["agent"].get("/speakers/no-such-speaker"),
        anonymous.get("/staff/no-such-page"),
    ):
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert "There is nothing at this address." in page
        assert STAFF_NAV not in page
        assert "Back to the home page" in page


# --- caching


@pytest.mark.parametrize(("rule", "method"), routes(STAFF, ADMIN_ONLY, method="GET"))
def test_staff_pages_are_not_stored_by_caches(
    clients: dict[str, FlaskClient], ids: dict[str, int], rule: str, method: str
) -> None:
    response = clients["admin"].get(fill(rule, ids))
    assert response.status_code == 200
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_the_sign_in_page_is_not_stored_by_caches(anonymous: FlaskClient) -> None:
    assert "no-store" in anonymous.get("/staff/login").headers.get("Cache-Control", "")
