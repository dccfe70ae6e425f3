"""The inbound worker tasks (thin: the work is in services and imap): reading one received
message, and beat's poll of the bureau's mailbox every minute (BUREAU_IMAP_URL)."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from bureau.extensions import db
from bureau.inbound import imap
from bureau.inbound.services import PROCESS_TASK, process, receive_raw
from bureau.outbox import execute, handles

log = logging.getLogger(__name__)

handles(PROCESS_TASK)(process)


@shared_task(name=PROCESS_TASK)
def process_message(*, job_id: int) -> str:
    return execute(PROCESS_TASK, job_id, process)


@shared_task(name="bureau.inbound.poll")
def poll_mailbox() -> int:
    """Store every new message of the mailbox and file it away; how many were filed. A mailbox
    that cannot be read is logged in one line (no traceback) and tried again next minute."""
    url = current_app.config["BUREAU_SETTINGS"].imap_url
    if not url:
        return 0
    try:
        return imap.poll(url, _store)
    except imap.MailboxProblem as problem:
        log.warning("inbound mail: %s", problem)
        return 0
    finally:
        db.session.remove()


def _store(raw: bytes, uidvalidity: int, uid: int) -> bool:
    """The message stored (or found stored already: same UIDVALIDITY and UID, or Message-ID),
    committed before the poll files it. With the database away it stays in the mailbox."""
    try:
        receive_raw(db.session, raw, source="imap", uidvalidity=uidvalidity, uid=uid)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception(
            "inbound mail: message %s/%s not stored; it stays in the mailbox", uidvalidity, uid
        )
        return False
    return True
