"""Sign-out ends the session everywhere a copy of its cookie went; a reset unlocks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask

from bureau.staff.auth import MAX_FAILED_LOGINS
from bureau.staff.models import Role
from tests.conftest import make_app
from tests.workflow_helpers import PASSWORD, csrf_from, sign_in, staff_member


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
    env = {"BUREAU_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "bureau"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    create = [
        *run,
        "staff",
        "create",
        "desk@bureau.localhost",
        "--name",
        "Desk",
        "--role",
        "agent",
        "--password-stdin",
    ]
    subprocess.run(
        create, env=env, input=PASSWORD + "\n", text=True, check=True, capture_output=True
    )
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'bureau.db'}")
    for _ in range(MAX_FAILED_LOGINS):
        assert sign_in(app.test_client(), "desk@bureau.localhost", "wrong").status_code == 401
    assert "Too many failed sign-ins" in sign_in(
        app.test_client(), "desk@bureau.localhost"
    ).get_data(as_text=True)
    subprocess.run(
        create, env=env, input=PASSWORD + "\n", text=True, check=True, capture_output=True
    )
    assert sign_in(app.test_client(), "desk@bureau.localhost").status_code == 302
