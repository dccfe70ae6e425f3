"""The content security policy is strict for scripts and styles, and no page needs it looser:
every GET page (public and staff, from the URL map) carries no inline style or script."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.bookings.demo_history import load_demo_history
from bureau.bookings.links import availability_token
from bureau.bookings.models import BookingRequest, Offer
from bureau.catalogue.models import Post, Speaker
from bureau.extensions import db
from bureau.jobs import Job, run_job
from bureau.mail.models import Notification
from bureau.mail.tasks import TASK as MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.staff.models import Role
from tests.conftest import BACKEND, form_tokens, make_app, migrate_and_seed
from tests.workflow_helpers import sign_in, staff_member, submit_and_route

ADMIN = "csp.admin@bureau.localhost"
# Files and calendar feeds, not pages.
NOT_PAGES = {"static", "bootstrap.static", "calendar.speaker_feed", "calendar.staff_feed"}
# Error pages (with their status) and other states of pages, beyond what the URL map names.
ERROR_PATHS = {
    "/nothing-here": 404,
    "/?q=%00": 400,
    "/staff/mail/1/resend": 405,  # the route answers POST only
    "/availability/not-a-valid-link": 404,  # the link's problem, said on the page
}
OTHER_STATES = ("/speakers?q=zzzzunmatched", "/staff/?page=2", "/staff/?queue=mine")


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


# Sources that let inline or injected code run, or code from anywhere.
LOOSE = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:"}


def test_policy_allows_no_inline_script_or_style(client: FlaskClient) -> None:
    for path in ("/", "/request", "/staff/login", "/nothing-here"):
        policy = directives(client.get(path).headers["Content-Security-Policy"])
        for name in ("default-src", "script-src", "style-src"):
            assert "'self'" in policy[name], (path, name)
            assert not LOOSE & set(policy[name]), (path, name, policy[name])


class InlineCode(HTMLParser):
    """What a strict policy blocks: style attributes, <style>, inline <script>, on*=
    handlers and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            script_url = (value or "").strip().lower().startswith("javascript:")
            if name == "style" or name.startswith("on") or script_url:
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "style" or (tag == "script" and not dict(attrs).get("src")):
            self.found.append(f"<{tag}> inline")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def test_the_checker_sees_inline_code() -> None:
    page = (
        '<p style="color:red">a</p><style>p{}</style><script>x()</script>'
        '<script src="/s.js"></script><a href="javascript:x()" onclick="x()">b</a><br/>'
    )
    assert len(inline_code(page)) == 5
    assert inline_code('<p class="text-pre-wrap">a</p><script src="/s.js"></script>') == []


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Flask:
    """On its own database: the demo catalogue and booking history (every state), an admin,
    and one request with a multi-line message whose emails were written."""
    folder = tmp_path_factory.mktemp("csp")
    if BACKEND == "postgresql":
        url: str = request.getfixturevalue("postgres_database_factory")()
    else:
        url = f"sqlite:///{folder / 'bureau.db'}"
    app = make_app(folder, url)
    migrate_and_seed(app)
    with app.app_context():
        load_demo_history(db.session)
        db.session.commit()
    staff_member(app, ADMIN, role=Role.ADMIN)
    submit_and_route(app, message="First line of the brief.\n  Second line, indented.")
    with app.app_context():
        for job_id in db.session.scalars(select(Job.id).where(Job.task == MAIL_TASK)).all():
            run_job(db.session, job_id, send_notification)
    return app


def argument_values() -> dict[str, list[dict[str, Any]]]:
    """url_for arguments for each page whose rule has some: every speaker and post, each
    booking state's newest request, an offer's speaker link, an email."""
    session = db.session
    by_state: dict[str, int] = {}
    for booking_id, status in session.execute(
        select(BookingRequest.id, BookingRequest.status).order_by(BookingRequest.id.desc())
    ):
        by_state.setdefault(status, booking_id)  # the newest: the request with a message
    offer = session.scalars(select(Offer).where(Offer.logistics.is_not(None))).first()
    assert offer is not None
    slugs = [{"slug": s} for s in session.scalars(select(Speaker.slug))]
    ids = {
        "speaker": session.scalars(select(Speaker.id)).first(),
        "post": session.scalars(select(Post.id)).first(),
        "notification": session.scalars(select(Notification.id)).first(),
    }
    assert all(ids.values()), ids
    tokens = [
        {"token": token}
        for token in session.scalars(
            select(BookingRequest.tracking_token).where(BookingRequest.id.in_(by_state.values()))
        )
    ]
    return {
        "catalogue.speaker": slugs,
        "catalogue_api.speaker": slugs,
        "catalogue.post": [{"slug": s} for s in session.scalars(select(Post.slug))],
        "bookings.status": tokens,
        "bookings_api.read_request": tokens,
        "bookings.availability": [{"token": availability_token(offer.id, offer.speaker_id)}],
        "staff.request_page": [{"booking_id": i} for i in by_state.values()],
        "staff.mail_message": [{"notification_id": ids["notification"]}],
        "catalogue_admin.speaker_form": [{"speaker_id": ids["speaker"]}],
        "catalogue_admin.post_form": [{"post_id": ids["post"]}],
    }


def every_page(app: Flask) -> Iterator[str]:
    """Each GET rule's URL (once per set of values when it takes arguments), then extras. A
    new page with arguments fails here until argument_values() gives it some."""
    with app.test_request_context():
        values = argument_values()
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES:
                continue
            if not rule.arguments:
                yield url_for(rule.endpoint)
                continue
            assert rule.endpoint in values, f"give {rule.rule} values in argument_values()"
            for arguments in values[rule.endpoint]:
                yield url_for(rule.endpoint, **arguments)
    yield from ERROR_PATHS
    yield from OTHER_STATES


def check_pages(
    client: FlaskClient, paths: list[str]
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Inline code found in HTML answers, by path, and the status of those not 200."""
    found: dict[str, list[str]] = {}
    not_ok: dict[str, int] = {}
    for path in paths:
        response = client.get(path)
        if response.status_code != 200:
            not_ok[path] = response.status_code
        if response.mimetype == "text/html":
            found[path] = inline_code(response.get_data(as_text=True))
    return found, not_ok


def test_no_page_has_inline_style_or_script(demo_site: Flask) -> None:
    paths = list(every_page(demo_site))
    visitor = demo_site.test_client()
    found, _ = check_pages(visitor, paths)
    # The forms again, as they show errors.
    tokens = form_tokens(visitor)
    response = visitor.post("/request", data={**tokens, "event_name": "x"})
    assert "is-invalid" in response.get_data(as_text=True)
    found["/request (errors)"] = inline_code(response.get_data(as_text=True))

    admin = demo_site.test_client()
    assert sign_in(admin, ADMIN).status_code in (302, 303)
    staff_found, not_ok = check_pages(admin, paths)
    assert not_ok == ERROR_PATHS  # every other page rendered in full for an admin
    found.update({f"{path} (admin)": problems for path, problems in staff_found.items()})
    problems = [f"{path}: {', '.join(codes)}" for path, codes in found.items() if codes]
    assert not problems, "\n".join(problems)
