"""Received files in an S3 bucket (BUREAU_ATTACHMENT_STORE=s3://…), against a real
S3-speaking server process (moto_server, tests/s3.py): a reply's file lands in the bucket,
staff download it byte for byte, export lists it, erasure deletes it, and a changed setting
leaves every earlier file where it is and reachable."""

from __future__ import annotations

import importlib.util
import logging
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

import tests.services as test_services
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.config.settings import INSTANCE_STORE, S3Settings
from bureau.db import AnySession
from bureau.inbound.models import InboundMessage
from bureau.inbound.signals import parse
from bureau.privacy.erasure import erase
from bureau.privacy.export import export
from bureau.staff.models import Role
from tests import s3 as s3_module
from tests import test_privacy as privacy
from tests.s3 import keys, moto_s3
from tests.smtp import free_port
from tests.test_inbound import inbox_client
from tests.test_inbound_wire import acknowledged, entries, fixture, processed
from tests.test_inbound_wire import session as session  # the fixture
from tests.test_transitions import ADMIN_EMAIL
from tests.workflow_helpers import staff_member

STAFF = Actor("staff", "Privacy desk")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Settings]:
    with moto_s3() as settings:
        yield settings


@pytest.fixture
def bucket(app: Flask, s3: S3Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket, and the app storing received files in it under the prefix bureau/
    (and an empty instance folder of its own, to see nothing lands there)."""
    name = f"bureau-{secrets.token_hex(4)}"
    s3_module.client(s3).create_bucket(Bucket=name)
    settings = replace(app.config["BUREAU_SETTINGS"], instance_path=tmp_path / "instance")
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", settings)
    use_store(app, monkeypatch, f"s3://{name}/bureau", s3)
    return name


def use_store(app: Flask, monkeypatch: pytest.MonkeyPatch, store: str, s3: S3Settings) -> None:
    settings = replace(app.config["BUREAU_SETTINGS"], attachment_store=store, s3=s3)
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", settings)


def own_request(session: AnySession) -> BookingRequest:
    """A request the fixtures answer, with an organizer address of its own: erasing it
    touches no other test's request."""
    booking = acknowledged(session)
    booking.contact_email = f"organizer-{secrets.token_hex(4)}@example.org"
    session.commit()
    return booking


def outlook_file() -> bytes:
    [attachment] = parse(fixture("outlook_reply"), max_bytes=10**7).attachments
    return attachment.data


def download(app: Flask, booking: BookingRequest, message: InboundMessage) -> tuple[int, bytes]:
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    page = client.get(f"/staff/requests/{booking.id}").get_data(as_text=True)
    link = f"/staff/requests/{booking.id}/emails/{message.id}/files/1"
    assert f'href="{link}">' in page
    answer = client.get(link)
    return answer.status_code, answer.data


def test_a_replys_file_lands_in_the_bucket_and_downloads_byte_identical(
    session: AnySession, app: Flask, bucket: str, s3: S3Settings
) -> None:
    booking = own_request(session)
    message = processed(session, fixture("outlook_reply"))
    assert keys(s3, bucket) == [f"bureau/inbound/{message.id}/1"]
    [entry] = entries(session, booking, "reply received")
    [listed] = entry.details["attachments"]
    assert (listed["filename"], listed["store"]) == (
        "Ablaufplan_Vortrag.pdf",
        f"s3://{bucket}/bureau",
    )
    instance: Path = app.config["BUREAU_SETTINGS"].instance_path
    assert not (instance / "inbound").exists()  # nothing in the instance folder
    assert download(app, booking, message) == (200, outlook_file())
    received_emails = export(session, booking.contact_email)["received_emails"]
    [received] = [m for m in received_emails if m["message_id"] == message.message_id]
    assert received["files"] == [{"file": "1", "size": len(outlook_file())}]


def test_erasure_deletes_the_file_from_the_bucket(
    session: AnySession, app: Flask, bucket: str, s3: S3Settings, tmp_path: Path
) -> None:
    booking = own_request(session)
    message = processed(session, fixture("outlook_reply"))
    other = f"s3-other-{secrets.token_hex(2)}"
    s3_module.client(s3).put_object(Bucket=bucket, Key=f"bureau/inbound/{other}/1", Body=b"x")
    assert len(keys(s3, bucket)) == 2
    done = erase(session, booking.contact_email, actor=STAFF, mail_folder=tmp_path)
    assert done.received == 1
    assert session.get(InboundMessage, message.id) is None
    assert keys(s3, bucket) == [f"bureau/inbound/{other}/1"]  # only that email's file went


def test_a_changed_setting_leaves_earlier_files_reachable_where_they_are(
    session: AnySession, app: Flask, bucket: str, s3: S3Settings, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    booking = own_request(session)
    in_bucket = processed(session, fixture("outlook_reply"))
    use_store(app, monkeypatch, INSTANCE_STORE, s3)  # back to the instance folder
    assert download(app, booking, in_bucket) == (200, outlook_file())
    erase(session, booking.contact_email, actor=STAFF, mail_folder=tmp_path)
    assert keys(s3, bucket) == []


def test_a_store_that_cannot_be_reached_is_a_503_not_a_500(
    session: AnySession, app: Flask, bucket: str, s3: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    booking = own_request(session)
    message = processed(session, fixture("outlook_reply"))
    closed = replace(s3, endpoint_url=f"http://127.0.0.1:{free_port()}")
    use_store(app, monkeypatch, f"s3://{bucket}/bureau", closed)
    status, body = download(app, booking, message)
    assert status == 503
    assert b"file store cannot be reached" in body


def test_files_an_unreachable_store_keeps_are_reported_not_lost_silently(
    session: AnySession, app: Flask, bucket: str, s3: S3Settings, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Erasure from the privacy page with the bucket unreachable: the rows go, the page and
    the log say which files stay behind, and where."""
    booking = own_request(session)
    message = processed(session, fixture("outlook_reply"))
    staff_member(app, privacy.ADMIN, role=Role.ADMIN)
    client = privacy.admin(app)
    closed = replace(s3, endpoint_url=f"http://127.0.0.1:{free_port()}")
    use_store(app, monkeypatch, f"s3://{bucket}/bureau", closed)
    address = booking.contact_email
    with caplog.at_level(logging.ERROR, "bureau.inbound.storage"):
        response = privacy.erase(client, confirm=address.lower(), address=address)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The files of 1 received emails could not be deleted" in page
    assert session.get(InboundMessage, message.id) is None
    [record] = caplog.records
    assert f"s3://{bucket}/bureau" in record.getMessage()
    assert f"inbound/{message.id}/" in record.getMessage()
    assert keys(s3, bucket) == [f"bureau/inbound/{message.id}/1"]


def test_a_missing_bucket_fails_the_job_and_keeps_the_message(
    session: AnySession, app: Flask, s3: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job fails (and is retried by the outbox); nothing is filed half-way."""
    use_store(app, monkeypatch, f"s3://bureau-missing-{secrets.token_hex(4)}", s3)
    booking = own_request(session)
    message = processed(session, fixture("outlook_reply"))
    assert message.status == "received"  # not filed: the job will run again
    assert entries(session, booking, "reply received") == []


@pytest.mark.parametrize(
    ("in_ci", "outcome"), [(False, pytest.skip.Exception), (True, pytest.fail.Exception)]
)
def test_without_moto_the_tests_skip_saying_why_but_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, in_ci: bool, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(test_services, "IN_CI", in_ci)
    with pytest.raises(outcome, match=r"moto\[server\] is not installed"):
        s3_module.moto_installed()
