"""Staff sign-in: passwords, lock-out, safe redirects, sign-out, password changes, cookies,
the per-address rate limit, and `bureau staff create`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from limits import parse_many
from sqlalchemy import delete, select

import bureau.ratelimit
from bureau.extensions import db
from bureau.staff.auth import LOCKOUT, MAX_FAILED_LOGINS, MIN_PASSWORD_LENGTH, WRONG
from bureau.staff.models import Role, SignInFailure, StaffMember
from tests.conftest import Clock, bureau_cli, make_app
from tests.workflow_helpers import PASSWORD, csrf_from, sign_in, staff_member

LOCKED = "Too many failed sign-ins with this email from your address;"
NEW_PASSWORD = "a much longer new pass phrase"


def member(app: Flask, email: str) -> StaffMember:
    with app.app_context():
        found = db.session.scalars(select(StaffMember).where(StaffMember.email == email)).one()
        db.session.expunge(found)
        return found


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/staff/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/staff/login"
    return False


def hidden_next(page: str) -> str:
    found = re.search(r'<input[^>]*name="next"[^>]*>', page)
    assert found, "the sign-in form lost its next field"
    value = re.search(r'value="([^"]*)"', found.group(0))
    return value.group(1) if value else ""


@pytest.fixture(autouse=True)
def _forget_failures(app: Flask) -> Iterator[None]:
    """Failures are kept per (email, address): each test starts with none."""
    yield
    with app.app_context():
        db.session.execute(delete(SignInFailure))
        db.session.commit()


@pytest.fixture
def agent(app: Flask) -> str:
    email = "sign-in.tester@bureau.test"
    staff_member(app, email, name="Sign-in tester")
    return email


# --- signing in


def test_the_right_password_leads_to_the_dashboard(app: Flask, agent: str) -> None:
    client = app.test_client()
    response = sign_in(client, agent)
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    assert signed_in(client)
    assert "Sign-in tester" in client.get("/staff/").get_data(as_text=True)


def test_the_email_is_matched_without_regard_to_case(app: Flask, agent: str) -> None:
    client = app.test_client()
    assert sign_in(client, agent.upper()).status_code == 302
    assert signed_in(client)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("sign-in.tester@bureau.test", "not the password", id="wrong password"),
        pytest.param("nobody@bureau.test", PASSWORD, id="unknown email"),
    ],
)
def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    app: Flask, agent: str, email: str, password: str
) -> None:
    client = app.test_client()
    response = sign_in(client, email, password)
    assert response.status_code == 401
    assert WRONG in response.get_data(as_text=True)
    assert not signed_in(client)


def test_passwords_are_stored_as_argon2_hashes(app: Flask, agent: str) -> None:
    stored = member(app, agent).password_hash
    assert stored.startswith("$argon2")
    assert PASSWORD not in stored


def failures(app: Flask, email: str) -> int:
    with app.app_context():
        return len(
            db.session.scalars(
                select(SignInFailure).where(SignInFailure.email == email.lower())
            ).all()
        )


def answer(response: Any) -> str:
    """The sign-in page's message (the form's error), for comparing answers."""
    found = re.search(
        r"(Email or password is not right\.|Too many failed sign-ins[^<]*)",
        response.get_data(as_text=True),
    )
    assert found, response.get_data(as_text=True)
    return found.group(1)


def test_five_failures_pause_the_pair_for_the_minutes_said(
    app: Flask, agent: str, clock: Clock
) -> None:
    client = app.test_client()
    for _ in range(MAX_FAILED_LOGINS):
        response = sign_in(client, agent, "not the password")
        assert response.status_code == 401
        assert answer(response) == WRONG

    # Now even the right password is refused, with the wait named.
    refused = sign_in(client, agent)
    assert refused.status_code == 401
    assert f"{LOCKED} try again in 15 minutes." in refused.get_data(as_text=True)
    assert not signed_in(client)

    # The minutes said are the minutes enforced: a second before, still paused ...
    clock.advance(LOCKOUT - timedelta(seconds=61))
    assert "try again in 2 minutes." in answer(sign_in(client, agent))
    clock.advance(timedelta(seconds=60))
    assert "try again in 1 minute." in answer(sign_in(client, agent))
    # ... and at the fifteenth minute it opens (a wait while paused is not a new failure).
    clock.advance(timedelta(seconds=1))
    assert sign_in(client, agent).status_code == 302
    assert signed_in(client)
    assert failures(app, agent) == 0


def test_a_good_sign_in_forgets_earlier_failures(app: Flask, agent: str) -> None:
    client = app.test_client()
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert sign_in(client, agent, "not the password").status_code == 401
    assert failures(app, agent) == MAX_FAILED_LOGINS - 1
    assert sign_in(client, agent).status_code == 302
    assert failures(app, agent) == 0
    other = app.test_client()
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert sign_in(other, agent, "not the password").status_code == 401
    assert sign_in(app.test_client(), agent).status_code == 302


def test_known_and_unknown_addresses_get_the_same_answers(
    app: Flask, agent: str, clock: Clock
) -> None:
    """Issue 15.5: a real account used to answer "This account is locked" after five
    failures while an unknown address kept saying "Email or password is not right"."""

    def answers(email: str) -> list[str]:
        client = app.test_client()
        said = [answer(sign_in(client, email, "not the password")) for _ in range(7)]
        clock.advance(timedelta(minutes=3))
        return [*said, answer(sign_in(client, email, "not the password"))]

    known = answers(agent)
    unknown = answers("nobody.at.all@bureau.test")
    assert known == unknown
    assert known[:MAX_FAILED_LOGINS] == [WRONG] * MAX_FAILED_LOGINS
    assert "try again in 12 minutes" in known[-1]


def test_guessing_elsewhere_does_not_lock_the_owner_out(app: Flask, clock: Clock) -> None:
    """Issue 15.5: anyone could keep any account, an admin's included, locked for ever."""
    boss = "locked.out.boss@bureau.test"
    staff_member(app, boss, role=Role.ADMIN)
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    for _ in range(3):  # guessing on and on, over the owner's working day
        client = app.test_client()
        for _ in range(MAX_FAILED_LOGINS + 3):
            token = csrf_from(client.get("/staff/login", environ_base=attacker).get_data(True))
            client.post(
                "/staff/login",
                data={"email": boss, "password": "guess", "csrf_token": token},
                environ_base=attacker,
            )
        assert "Too many failed sign-ins" in answer(
            client.post(
                "/staff/login",
                data={"email": boss, "password": PASSWORD, "csrf_token": token},
                environ_base=attacker,
            )
        )
        owner = app.test_client()
        assert sign_in(owner, boss).status_code == 302
        assert owner.get("/staff/speakers").status_code == 200
        clock.advance(timedelta(minutes=10))


@pytest.fixture
def full_cost_agent(app: Flask, production_password_cost: None) -> str:
    """The agent, with a password hashed at production's cost."""
    email = "sign-in.tester@bureau.test"
    staff_member(app, email, name="Sign-in tester")
    return email


def test_an_unknown_address_costs_the_same_password_check(app: Flask, full_cost_agent: str) -> None:
    """No timing hint either: an unknown address verifies against a dummy argon2 hash."""
    from bureau.staff.auth import LoginRefused, authenticate

    def seconds(email: str) -> float:
        times = []
        with app.app_context():
            for number in range(4):
                started = time.perf_counter()
                with pytest.raises(LoginRefused):
                    authenticate(db.session, email, "wrong", client=f"192.0.2.{number}")
                times.append(time.perf_counter() - started)
        return sorted(times)[1]

    seconds("warm.up@bureau.test")
    known, unknown = seconds(full_cost_agent), seconds("nobody.timed@bureau.test")
    # Without an argon2 check an unknown address would answer many times faster.
    assert 1 / 3 < unknown / known < 3, (known, unknown)


def test_an_inactive_account_cannot_sign_in_and_is_signed_out(app: Flask, agent: str) -> None:
    client = app.test_client()
    assert sign_in(client, agent).status_code == 302
    with app.app_context():
        db.session.get(StaffMember, member(app, agent).id).is_active = False
        db.session.commit()
    try:
        assert not signed_in(client)
        response = sign_in(app.test_client(), agent)
        assert response.status_code == 401
        assert WRONG in response.get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.get(StaffMember, member(app, agent).id).is_active = True
            db.session.commit()


# --- where sign-in leads


NEXT_TARGETS = [
    pytest.param("https://evil.example/", "/staff/", id="absolute URL"),
    pytest.param("//evil.example", "/staff/", id="scheme-relative"),
    pytest.param("/\\evil.example", "/staff/", id="backslash"),
    pytest.param("javascript:alert(1)", "/staff/", id="javascript"),
    pytest.param("http:/\\evil.example", "/staff/", id="scheme and backslash"),
    pytest.param("/staff/mail", "/staff/mail", id="local path"),
    pytest.param("/staff/mail?state=failed", "/staff/mail?state=failed", id="local with query"),
]


@pytest.mark.parametrize(("target", "lands_on"), NEXT_TARGETS)
def test_next_only_leads_to_a_local_path(
    app: Flask, agent: str, target: str, lands_on: str
) -> None:
    """Both ways in: the link's ?next= (kept in the form) and a forged form field."""
    client = app.test_client()
    page = client.get(f"/staff/login?next={quote(target, safe='')}").get_data(as_text=True)
    kept = hidden_next(page)
    assert kept in ("", lands_on)
    response = client.post(
        "/staff/login",
        data={"email": agent, "password": PASSWORD, "csrf_token": csrf_from(page), "next": kept},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on

    forged = app.test_client()
    token = csrf_from(forged.get("/staff/login").get_data(as_text=True))
    response = forged.post(
        "/staff/login",
        data={"email": agent, "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on


def test_a_refused_page_leads_back_to_itself_after_sign_in(app: Flask, agent: str) -> None:
    client = app.test_client()
    refused = client.get("/staff/mail")
    login_page = refused.headers["Location"]
    assert urlsplit(login_page).path == "/staff/login"
    page = client.get(login_page).get_data(as_text=True)
    assert hidden_next(page) == "/staff/mail"
    response = client.post(
        "/staff/login",
        data={
            "email": agent,
            "password": PASSWORD,
            "csrf_token": csrf_from(page),
            "next": "/staff/mail",
        },
    )
    assert response.headers["Location"] == "/staff/mail"


# --- signing out


def test_sign_out_is_post_only_and_ends_the_session(app: Flask, agent: str) -> None:
    client = app.test_client()
    sign_in(client, agent)
    assert client.get("/staff/logout").status_code == 405
    assert signed_in(client)
    # A forged cross-site POST (no CSRF token) does not sign anyone out.
    assert client.post("/staff/logout").status_code == 400
    assert signed_in(client)

    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    response = client.post("/staff/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/staff/login"
    assert not signed_in(client)


# --- changing the password


def change_password(client: FlaskClient, current: str, new: str, repeat: str | None = None) -> Any:
    token = csrf_from(client.get("/staff/password").get_data(as_text=True))
    return client.post(
        "/staff/password",
        data={
            "csrf_token": token,
            "current": current,
            "new": new,
            "repeat": new if repeat is None else repeat,
        },
    )


@pytest.fixture
def changer(app: Flask) -> Iterator[str]:
    email = "password.tester@bureau.test"
    staff_member(app, email)
    yield email
    staff_member(app, email)  # the test password again, for the next run


def test_changing_the_password_signs_out_the_other_sessions(app: Flask, changer: str) -> None:
    here, elsewhere = app.test_client(), app.test_client()
    assert sign_in(here, changer).status_code == 302
    assert sign_in(elsewhere, changer).status_code == 302
    before = member(app, changer).password_hash

    wrong = change_password(here, "not my password", NEW_PASSWORD)
    assert wrong.status_code == 422
    assert "That is not your password." in wrong.get_data(as_text=True)

    short = change_password(here, PASSWORD, "x" * (MIN_PASSWORD_LENGTH - 1))
    assert short.status_code == 422
    assert f"Use at least {MIN_PASSWORD_LENGTH} characters." in short.get_data(as_text=True)

    differ = change_password(here, PASSWORD, NEW_PASSWORD, repeat=NEW_PASSWORD + "!")
    assert differ.status_code == 422
    assert "The two differ." in differ.get_data(as_text=True)

    assert member(app, changer).password_hash == before
    assert signed_in(here)
    assert signed_in(elsewhere)

    done = change_password(here, PASSWORD, NEW_PASSWORD)
    assert done.status_code == 302
    assert done.headers["Location"] == "/staff/"
    assert "Your password is changed" in here.get("/staff/").get_data(as_text=True)
    assert signed_in(here)
    assert not signed_in(elsewhere)

    stored = member(app, changer).password_hash
    assert stored != before
    assert stored.startswith("$argon2")
    assert sign_in(app.test_client(), changer, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), changer, NEW_PASSWORD).status_code == 302


# --- cookies


def test_the_session_cookie_is_http_only(app: Flask, agent: str) -> None:
    response = sign_in(app.test_client(), agent)
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies
    attributes = [part.strip().lower() for part in cookies[-1].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


def test_a_production_app_sends_the_session_cookie_only_over_https(
    app: Flask, postgres_app: Flask, tmp_path: Path, redis_url: str
) -> None:
    # Production insists on PostgreSQL, a real broker, Redis and SMTP (none is used here).
    production = make_app(
        tmp_path,
        postgres_app.config["SQLALCHEMY_DATABASE_URI"],
        BUREAU_ENV="production",
        BUREAU_SECRET_KEY="x" * 40,
        BUREAU_BROKER_URL=redis_url,
        BUREAU_REDIS_URL=redis_url,
        BUREAU_SMTP_URL="smtp://127.0.0.1:25",
    )
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is False  # the test app serves plain http

    email = "production.tester@bureau.test"
    staff_member(postgres_app, email)
    client = production.test_client()
    https = "https://bureau.test"
    page = client.get("/staff/login", base_url=https).get_data(as_text=True)
    response = client.post(
        "/staff/login",
        base_url=https,
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)},
        headers={"Referer": f"{https}/staff/login"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")][-1]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in attributes
    assert "httponly" in attributes


# --- the per-address limit on sign-in attempts


def test_sign_in_attempts_are_limited_per_client_address(
    app: Flask, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = min(item.amount for item in parse_many(bureau.ratelimit.LOGIN_LIMIT))
    if allowed > 30:
        monkeypatch.setattr(bureau.ratelimit, "LOGIN_LIMIT", "3 per minute")
        allowed = 3
    limited = make_app(tmp_path, database_url, RATELIMIT_ENABLED=True)
    client = limited.test_client()
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    attempt = {"email": "nobody@bureau.test", "password": "guess", "csrf_token": token}

    for number in range(allowed):
        response = client.post("/staff/login", data=attempt)
        assert response.status_code == 401, f"attempt {number + 1} of {allowed}"
    refused = client.post("/staff/login", data=attempt)
    assert refused.status_code == 429
    assert "Too many requests" in refused.get_data(as_text=True)
    # Showing the page is not limited; another address still gets its own attempts.
    assert client.get("/staff/login").status_code == 200
    elsewhere = limited.test_client()
    elsewhere_env = {"REMOTE_ADDR": "192.0.2.77"}
    token = csrf_from(
        elsewhere.get("/staff/login", environ_base=elsewhere_env).get_data(as_text=True)
    )
    response = elsewhere.post(
        "/staff/login", data={**attempt, "csrf_token": token}, environ_base=elsewhere_env
    )
    assert response.status_code == 401


# --- bureau staff create


@pytest.fixture(scope="module")
def cli_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """An app on a fresh SQLite database migrated by `bureau db upgrade`."""
    folder = tmp_path_factory.mktemp("staff-cli")
    app = make_app(folder / "instance", f"sqlite:///{folder / 'cli.db'}")
    upgraded = bureau_cli(app, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    return app


def create_staff(
    app: Flask, email: str, password: str, *, role: str = "admin", name: str = "Ops"
) -> Result:
    return bureau_cli(
        app,
        "staff",
        "create",
        email,
        "--name",
        name,
        "--role",
        role,
        "--password-stdin",
        stdin=password + "\n",
    )


def accounts(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        return sorted((m.email, m.name, m.role) for m in db.session.scalars(select(StaffMember)))


def test_staff_create_makes_an_account_that_can_sign_in(cli_app: Flask) -> None:
    created = create_staff(cli_app, "ops.lead@bureau.test", PASSWORD, name="Ops Lead")
    assert created.exit_code == 0, created.stderr
    assert "Created admin Ops Lead <ops.lead@bureau.test>" in created.stdout
    assert ("ops.lead@bureau.test", "Ops Lead", Role.ADMIN) in accounts(cli_app)
    assert member(cli_app, "ops.lead@bureau.test").password_hash.startswith("$argon2")

    client = cli_app.test_client()
    response = sign_in(client, "ops.lead@bureau.test")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    assert client.get("/staff/speakers").status_code == 200  # an admin


def test_staff_create_refuses_a_short_password(cli_app: Flask) -> None:
    refused = create_staff(cli_app, "short.pass@bureau.test", "too short")
    assert refused.exit_code == 2
    assert f"password: Use at least {MIN_PASSWORD_LENGTH} characters." in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "short.pass@bureau.test" not in [email for email, _, _ in accounts(cli_app)]


@pytest.mark.parametrize("email", ["not-an-email", "two@@bureau.test", "space in@bureau.test"])
def test_staff_create_refuses_a_bad_email(cli_app: Flask, email: str) -> None:
    before = accounts(cli_app)
    refused = create_staff(cli_app, email, PASSWORD)
    assert refused.exit_code == 2
    assert "EMAIL" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert accounts(cli_app) == before


def test_staff_create_needs_the_password_on_standard_input(cli_app: Flask) -> None:
    before = accounts(cli_app)
    refused = bureau_cli(
        cli_app, "staff", "create", "no.stdin@bureau.test", "--name", "N", "--role", "agent"
    )
    assert refused.exit_code == 2
    assert "--password-stdin" in refused.stderr
    assert accounts(cli_app) == before


def test_staff_create_again_updates_the_password(cli_app: Flask) -> None:
    email = "rotating@bureau.test"
    assert create_staff(cli_app, email, PASSWORD, role="agent", name="Rota").exit_code == 0
    here = cli_app.test_client()
    assert sign_in(here, email).status_code == 302

    again = create_staff(cli_app, email.upper(), NEW_PASSWORD, role="agent", name="Rota")
    assert again.exit_code == 0, again.stderr
    assert "Updated agent Rota" in again.stdout
    assert [a for a in accounts(cli_app) if a[0].lower() == email] == [(email, "Rota", "agent")]
    assert sign_in(cli_app.test_client(), email, PASSWORD).status_code == 401
    assert sign_in(cli_app.test_client(), email, NEW_PASSWORD).status_code == 302
    assert not signed_in(here)  # the old password's sessions end
