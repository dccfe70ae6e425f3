"""Sign-out ends the session everywhere a copy of its cookie went; a reset unlocks; sessions
end after BUREAU_SESSION_HOURS and BUREAU_SESSION_IDLE_MINUTES idle; the gravest actions
ask for the password again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bureau.bookings.states import Status
from bureau.config import ConfigError, load_settings
from bureau.staff.auth import MAX_FAILED_LOGINS
from bureau.staff.models import Role
from tests.conftest import Clock, bureau_cli, make_app
from tests.workflow_helpers import (
    PASSWORD,
    csrf_from,
    post_form,
    reload,
    sign_in,
    staff_member,
    submit_and_route,
)


def test_a_copied_session_cookie_dies_with_sign_out(app: Flask) -> None:
    staff_member(app, "desk@bureau.test")
    original, copy = app.test_client(), app.test_client()
    sign_in(original, "desk@bureau.test")
    cookie = original.get_cookie("session")
    assert cookie is not None
    copy.set_cookie("session", cookie.value)
    assert copy.get("/staff/").status_code == 200
    page = original.get("/staff/").get_data(as_text=True)
    original.post("/staff/logout", data={"csrf_token": csrf_from(page)})
    assert copy.get("/staff/").status_code == 302


def test_admin_pages_send_the_anonymous_to_sign_in_and_back(app: Flask) -> None:
    staff_member(app, "boss@bureau.test", role=Role.ADMIN)
    client = app.test_client()
    response = client.get("/staff/topics")
    assert response.status_code == 302
    assert "next=/staff/topics" in response.headers["Location"]


def test_resetting_a_password_from_the_command_line_unlocks(tmp_path: Path) -> None:
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'bureau.db'}")
    assert bureau_cli(app, "db", "upgrade").exit_code == 0
    create = ["staff", "create", "desk@bureau.localhost", "--name", "Desk", "--role", "agent",
              "--password-stdin"]  # fmt: skip
    assert bureau_cli(app, *create, stdin=PASSWORD + "\n").exit_code == 0
    for _ in range(MAX_FAILED_LOGINS):
        assert sign_in(app.test_client(), "desk@bureau.localhost", "wrong").status_code == 401
    assert "Too many failed sign-ins" in sign_in(
        app.test_client(), "desk@bureau.localhost"
    ).get_data(as_text=True)
    assert bureau_cli(app, *create, stdin=PASSWORD + "\n").exit_code == 0
    assert sign_in(app.test_client(), "desk@bureau.localhost").status_code == 302


# --- how long a session lasts


def still_signed_in(client: FlaskClient) -> bool:
    response = client.get("/staff/")
    if response.status_code == 302:
        assert urlsplit(response.headers["Location"]).path == "/staff/login"
        return False
    assert response.status_code == 200
    return True


def test_a_session_ends_after_thirty_minutes_idle(app: Flask, clock: Clock) -> None:
    """Issue 15.6: sessions lasted Flask's default 31 days."""
    staff_member(app, "idle@bureau.test")
    client = app.test_client()
    assert sign_in(client, "idle@bureau.test").status_code == 302
    for _ in range(3):  # each request restarts the idle clock
        clock.advance(timedelta(minutes=29, seconds=59))
        assert still_signed_in(client)
    clock.advance(timedelta(minutes=30))
    assert not still_signed_in(client)
    page = client.get("/staff/login").get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page
    clock.advance(timedelta(minutes=1))  # and it stays ended
    assert not still_signed_in(client)


def test_a_session_ends_after_twelve_hours_however_busy(app: Flask, clock: Clock) -> None:
    staff_member(app, "busy@bureau.test")
    client = app.test_client()
    response = sign_in(client, "busy@bureau.test")
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")][-1]
    assert "expires=" in cookie.lower()  # the browser forgets it too, not at 31 days
    assert app.permanent_session_lifetime == timedelta(hours=12)
    for _ in range(12 * 3 - 1):
        clock.advance(timedelta(minutes=20))
        assert still_signed_in(client)
    clock.advance(timedelta(minutes=20))
    assert not still_signed_in(client)
    assert "Sessions end after 12 hours" in client.get("/staff/login").get_data(as_text=True)
    assert sign_in(client, "busy@bureau.test").status_code == 302
    assert still_signed_in(client)


def test_the_session_limits_are_settings(
    app: Flask, tmp_path: Path, database_url: str, clock: Clock
) -> None:
    short = make_app(
        tmp_path, database_url, BUREAU_SESSION_HOURS="1", BUREAU_SESSION_IDLE_MINUTES="5"
    )
    staff_member(app, "short@bureau.test")
    client = short.test_client()
    assert sign_in(client, "short@bureau.test").status_code == 302
    clock.advance(timedelta(minutes=4))
    assert still_signed_in(client)
    clock.advance(timedelta(minutes=5))
    assert not still_signed_in(client)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUREAU_SESSION_HOURS", "0"),
        ("BUREAU_SESSION_HOURS", "half a day"),
        ("BUREAU_SESSION_HOURS", "169"),
        ("BUREAU_SESSION_IDLE_MINUTES", "-5"),
        ("BUREAU_SESSION_IDLE_MINUTES", "1441"),
    ],
)
def test_bad_session_limits_stop_start_up_with_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), name: value})
    message = str(refused.value)
    assert message.startswith(f"{name} must be a number of ")
    assert repr(value) in message
    assert "\n" not in message


# --- the password again, for the gravest actions


def test_correcting_a_state_asks_for_the_password_again(app: Flask) -> None:
    """Issue 15.6: an admin's open session alone cannot rewrite a request's state."""
    staff_member(app, "corrector@bureau.test", role=Role.ADMIN)
    booking = submit_and_route(app)
    client = app.test_client()
    assert sign_in(client, "corrector@bureau.test").status_code == 302
    page_path = f"/staff/requests/{booking.id}"
    page = client.get(page_path).get_data(as_text=True)
    correct_form = page[page.index('id="correct-step"') :]
    assert 'name="password"' in correct_form[: correct_form.index("</form>")]
    path = f"{page_path}/correct"
    wanted = {"status": Status.DECLINED.value, "reason": "entered by mistake"}

    for password in ("", "not my password"):
        refused = post_form(client, path, page_path, {**wanted, "password": password})
        assert refused.status_code == 422
        assert reload(app, booking.id).status == booking.status
    assert "That is not your password. Nothing was changed." in refused.get_data(as_text=True)

    done = post_form(client, path, page_path, {**wanted, "password": PASSWORD})
    assert done.status_code == 303
    assert reload(app, booking.id).status == Status.DECLINED
