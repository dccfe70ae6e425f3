"""bureau.inbound.imap and its beat task against a real Dovecot (tests/dovecot.py): each
message handed over once and filed away, left when the handler says not now; clear errors for
a bad URL, a wrong password, a server that does not answer."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import func, select

from bureau.extensions import db
from bureau.inbound import imap, tasks
from bureau.inbound.imap import MailboxProblem, mailbox, poll
from bureau.inbound.models import InboundMessage
from bureau.inbound.services import PROCESS_TASK, process
from bureau.inbound.signals import classify, parse
from bureau.outbox import Job, run_job
from tests import dovecot as dovecot_module
from tests import services as test_services
from tests.dovecot import Dovecot, dovecot_server
from tests.smtp import free_port
from tests.test_inbound_wire import FIXTURES


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with dovecot_server() as server:
        yield server


def client(server: Dovecot) -> IMAPClient:
    imap_client = IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    imap_client.login(server.user, server.password)
    return imap_client


def message(number: int) -> bytes:
    return (
        f"From: Organizer <organizer@example.org>\r\nTo: bookings@bureau.example\r\n"
        f"Subject: Re: BR-2027-{number:05d}\r\n"
        f"Message-ID: <{number}.{uuid.uuid4().hex}@example.org>\r\n"
        f"\r\nReply number {number}.\r\n"
    ).encode()


@dataclass
class Box:
    """A folder of the test's own in the shared server, and its done folder."""

    server: Dovecot
    folder: str
    done: str = field(init=False)

    def __post_init__(self) -> None:
        self.done = f"{self.folder}-done"

    @property
    def url(self) -> str:
        return self.server.url(self.folder)

    def deliver(self, *raws: bytes) -> None:
        with client(self.server) as imap_client:
            for raw in raws:
                imap_client.append(self.folder, raw)

    def count(self, folder: str) -> int:
        with client(self.server) as imap_client:
            if not imap_client.folder_exists(folder):
                return 0
            return int(imap_client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def poll(self, handle: imap.Handler) -> int:
        return poll(self.url, handle, folder_done=self.done)


@pytest.fixture
def box(dovecot: Dovecot) -> Box:
    folder = f"T{uuid.uuid4().hex[:10]}"
    with client(dovecot) as imap_client:
        imap_client.create_folder(folder)
    return Box(dovecot, folder)


class Collector:
    """A handler: keeps what it is handed, answers ``answer``."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.seen: list[tuple[bytes, int, int]] = []

    def __call__(self, raw: bytes, uidvalidity: int, uid: int) -> bool:
        self.seen.append((raw, uidvalidity, uid))
        return self.answer


def test_new_messages_are_handed_over_once_and_filed(box: Box) -> None:
    raws = [message(n) for n in range(1, 4)]
    box.deliver(*raws)
    handle = Collector()
    assert box.poll(handle) == 3
    assert [raw.replace(b"\r\n", b"\n") for raw, _, _ in handle.seen] == [
        raw.replace(b"\r\n", b"\n") for raw in raws
    ]
    assert [uid for _, _, uid in handle.seen] == [1, 2, 3]
    assert box.count(box.folder) == 0
    assert box.count(box.done) == 3  # the done folder was created

    again = Collector()
    assert box.poll(again) == 0
    assert again.seen == []


def test_the_folders_uidvalidity_is_passed(box: Box) -> None:
    box.deliver(message(1))
    with client(box.server) as imap_client:
        expected = imap_client.folder_status(box.folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    handle = Collector()
    box.poll(handle)
    assert [validity for _, validity, _ in handle.seen] == [expected]


def test_a_message_the_handler_refuses_stays_for_the_next_poll(box: Box) -> None:
    box.deliver(message(1), message(2))
    assert box.poll(Collector(answer=False)) == 0
    assert box.count(box.folder) == 2
    with client(box.server) as imap_client:  # left unread for a person looking in
        imap_client.select_folder(box.folder)
        assert imap_client.search(["UNSEEN"]) == [1, 2]

    handle = Collector()
    assert box.poll(handle) == 2
    assert [uid for _, _, uid in handle.seen] == [1, 2]
    assert box.count(box.folder) == 0


def test_messages_come_in_batches(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap, "BATCH", 2)
    box.deliver(*(message(n) for n in range(1, 6)))
    handle = Collector()
    assert box.poll(handle) == 5
    assert [uid for _, _, uid in handle.seen] == [1, 2, 3, 4, 5]


def test_what_was_taken_before_the_handler_failed_is_filed(box: Box) -> None:
    box.deliver(message(1), message(2))

    def handle(raw: bytes, uidvalidity: int, uid: int) -> bool:
        if uid == 2:
            raise RuntimeError("the database went away")
        return True

    with pytest.raises(RuntimeError):
        box.poll(handle)
    assert box.count(box.done) == 1
    handle_again = Collector()
    box.poll(handle_again)
    assert [uid for _, _, uid in handle_again.seen] == [2]


def test_a_message_another_poll_filed_meanwhile_is_filed_once(box: Box) -> None:
    """The second poll runs while the first is handing over message 1: both hand over all
    three (the store keeps one of each), each message is filed once."""
    box.deliver(message(1), message(2), message(3))
    inner = Collector()

    def handle(raw: bytes, uidvalidity: int, uid: int) -> bool:
        if uid == 1:
            assert box.poll(inner) == 3
        return True

    assert box.poll(handle) == 0  # all were filed by the other poll
    assert [uid for _, _, uid in inner.seen] == [1, 2, 3]
    assert box.count(box.folder) == 0
    assert box.count(box.done) == 3


def test_a_message_gone_before_filing_is_no_error(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without CONDSTORE, two polls may both try to file a message: the one that finds it gone
    files the rest."""
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, name: name != "CONDSTORE" and real(self, name)
    )
    box.deliver(message(1), message(2))

    def handle(raw: bytes, uidvalidity: int, uid: int) -> bool:
        if uid == 2:  # another poll files message 1 meanwhile
            with client(box.server) as other:
                other.select_folder(box.folder)
                other.move([1], box.done)
        return True

    assert box.poll(handle) == 1
    assert box.count(box.folder) == 0
    assert box.count(box.done) == 2


def test_without_move_messages_are_copied_and_expunged(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, name: name != "MOVE" and real(self, name)
    )
    box.deliver(message(1), message(2))
    assert box.poll(Collector()) == 2
    assert box.count(box.folder) == 0
    assert box.count(box.done) == 2


def test_two_polls_at_once_store_each_message_once(box: Box) -> None:
    raws = [message(n) for n in range(1, 31)]
    box.deliver(*raws)
    lock = threading.Lock()
    stored: list[tuple[int, int]] = []
    keys: set[tuple[int, int]] = set()

    def handle(raw: bytes, uidvalidity: int, uid: int) -> bool:
        with lock:  # the store's dedupe: by UIDVALIDITY and UID (and Message-ID)
            if (uidvalidity, uid) not in keys:
                keys.add((uidvalidity, uid))
                stored.append((uidvalidity, uid))
        return True

    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.poll(handle)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(stored) == len(set(stored)) == 30
    assert box.count(box.folder) == 0
    # Filed once each, as the test above shows, but for one window: a poll that fetches a
    # message while another is moving it (claimed, not yet expunged) may copy it too.
    assert box.count(box.done) >= 30


def test_a_wrong_password_is_a_mailbox_problem(box: Box) -> None:
    with pytest.raises(MailboxProblem, match=r"refused to sign in bureau@127\.0\.0\.1") as caught:
        poll(box.server.url(box.folder, password="s3cr3t-guess"), Collector())
    assert "s3cr3t" not in str(caught.value)


def test_a_missing_folder_is_a_mailbox_problem(box: Box) -> None:
    with pytest.raises(MailboxProblem, match="cannot open the folder 'Nowhere'"):
        poll(box.server.url("Nowhere"), Collector())


def test_a_server_that_does_not_answer_is_a_mailbox_problem() -> None:
    port = free_port()
    with pytest.raises(MailboxProblem, match=rf"cannot reach the IMAP server 127\.0\.0\.1:{port}"):
        poll(f"imap://user:secret@127.0.0.1:{port}/INBOX", Collector())


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://user:pw@mail.example.com/INBOX", "must start with imaps:// or imap://"),
        ("mail.example.com", "must start with imaps:// or imap://"),
        ("imaps://mail.example.com/INBOX", "must name a user and a host"),
        ("imaps://user:pw@/INBOX", "must name a user and a host"),
        ("imaps://user:pw@mail.example.com:99999/INBOX", "port must be a number"),
    ],
)
def test_a_bad_url_is_a_mailbox_problem(url: str, words: str) -> None:
    with pytest.raises(MailboxProblem, match=words):
        mailbox(url)


def test_the_url_is_decoded() -> None:
    box = mailbox("imaps://desk%40bureau.example:p%40ss%2Fword@mail.example.com/Bookings%20In")
    assert (box.user, box.password, box.host, box.port, box.tls, box.folder) == (
        "desk@bureau.example",
        "p@ss/word",
        "mail.example.com",
        993,
        True,
        "Bookings In",
    )
    assert mailbox("imap://u@h").port == 143
    assert mailbox("imap://u@h").folder == "INBOX"


# --- the beat task (bureau/inbound/tasks.py)


def test_beat_polls_the_mailbox_only_when_one_is_named(app: Flask) -> None:
    from workers.schedule import beat_schedule

    settings = app.config["BUREAU_SETTINGS"]
    assert "inbound-mail" not in beat_schedule(settings)
    named = replace(settings, imap_url="imaps://desk:pw@mail.example.com/INBOX")
    assert beat_schedule(named)["inbound-mail"] == {
        "task": "bureau.inbound.poll",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    }
    with app.app_context():
        assert tasks.poll_mailbox.run() == 0  # none named: nothing to read


def test_the_task_stores_each_message_then_files_it(
    app: Flask, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(app.config["BUREAU_SETTINGS"], imap_url=box.url)
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", settings)
    box.deliver(message(1), message(2))
    with app.app_context():
        assert tasks.poll_mailbox.run() == 2
        stored = db.session.scalars(select(InboundMessage).order_by(InboundMessage.uid)).all()
        assert [(row.source, row.uid) for row in stored] == [("imap", 1), ("imap", 2)]
        assert tasks.poll_mailbox.run() == 0  # filed: the next poll finds nothing new
    assert box.count(box.folder) == 0
    assert box.count("Processed") == 2  # the default done folder


def test_a_mailbox_that_cannot_be_read_is_one_warning(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = replace(app.config["BUREAU_SETTINGS"], imap_url=f"imap://desk:pw@127.0.0.1:{port}")
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", settings)
    with app.app_context(), caplog.at_level(logging.WARNING, "bureau.inbound"):
        assert tasks.poll_mailbox.run() == 0
    [record] = caplog.records
    assert record.getMessage().startswith("inbound mail: cannot reach the IMAP server")
    assert record.exc_info is None
    assert "pw" not in record.getMessage()


@pytest.mark.parametrize(
    ("in_ci", "outcome"), [(False, pytest.skip.Exception), (True, pytest.fail.Exception)]
)
def test_without_dovecot_the_tests_skip_saying_why_but_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, in_ci: bool, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    monkeypatch.setattr(test_services, "IN_CI", in_ci)
    with pytest.raises(outcome, match="Dovecot is not installed"):
        dovecot_module.dovecot_binary()


def test_the_clients_messages_come_through_the_mailbox_as_they_were_written(
    app: Flask, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixtures as Gmail, Outlook, Apple Mail, Foxmail (GB18030), Google Calendar, Postfix
    and Exchange write them, delivered to a real Dovecot, polled by beat's task and read by
    the worker: each stored once, read exactly as the pipe reads it, none failed."""
    raws = {path.stem: path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))}
    assert len(raws) >= 10
    settings = replace(app.config["BUREAU_SETTINGS"], imap_url=box.url)
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", settings)
    box.deliver(*raws.values())
    with app.app_context():
        before = db.session.scalar(select(func.max(InboundMessage.id))) or 0
        assert tasks.poll_mailbox.run() == len(raws)
        stored = db.session.scalars(
            select(InboundMessage).where(InboundMessage.id > before).order_by(InboundMessage.uid)
        ).all()
        assert len(stored) == len(raws)
        for (name, raw), message in zip(raws.items(), stored, strict=True):
            through_imap, direct = parse(message.raw, max_bytes=10**7), parse(raw, max_bytes=10**7)
            assert (
                through_imap.message_id,
                through_imap.subject,
                through_imap.from_address,
                through_imap.reply,
                classify(through_imap),
            ) == (
                direct.message_id,
                direct.subject,
                direct.from_address,
                direct.reply,
                classify(direct),
            ), name
            job = db.session.scalars(
                select(Job).where(Job.task == PROCESS_TASK, Job.sequence == message.id)
            ).one()
            run_job(db.session, job.id, process)
            db.session.refresh(message)
            assert message.status != "failed", (name, message.error)
