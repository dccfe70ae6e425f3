"""Email both ways on one request, in a real browser against `bureau run` (issue 19): the
organizer answers the acknowledgement from their mail client, the message is delivered as
an MTA would (`bureau mail receive` on stdin, against the site's own database), the worker
files it on the request's timeline and the organizer's status page, and staff answer from
the request page; the answer goes out threaded onto the organizer's email."""

from __future__ import annotations

import subprocess
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser, csp_violations
from tests.stack import wait_until
from tests.test_browser import (
    BUREAU,
    Mailbox,
    ask,
    click,
    fill,
    sign_in_and_wait_for,
    site,
    site_env,
    text,
)

pytestmark = pytest.mark.slow

__all__ = ["browser", "site"]  # fixtures: pytest finds them by name

NEW_TEXT = "谢谢。Could Mr Kuo also join the dinner for 20 sponsors the evening before?"
QUOTED = "Outlook for the year ahead, quoted back"


def organizers_reply(acknowledgement: EmailMessage) -> EmailMessage:
    """What a mail client writes on "Reply": to the Reply-To, threaded, the history quoted."""
    reply = EmailMessage()
    reply["From"] = "李娜 <li.na@example.com>"
    reply["To"] = acknowledgement["Reply-To"].addresses[0].addr_spec
    reply["Subject"] = f"Re: {acknowledgement['Subject']}"
    reply["Message-ID"] = make_msgid(domain="example.com")
    reply["In-Reply-To"] = acknowledgement["Message-ID"]
    reply["References"] = acknowledgement["Message-ID"]
    quoted = "\n".join(f"> {line}" for line in [QUOTED, "", "Bureau"])
    reply.set_content(f"{NEW_TEXT}\n\n李娜\n\nOn Monday, Bureau wrote:\n{quoted}\n")
    return reply


def deliver(folder: Path, message: EmailMessage) -> None:
    """Hand the message to `bureau mail receive` as an MTA's pipe would."""
    done = subprocess.run(
        [*BUREAU, "mail", "receive"],
        input=message.as_bytes(),
        cwd=folder,
        env=site_env(),
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode()


def test_the_organizer_and_staff_write_to_each_other(site: tuple[str, Path], browser: Any) -> None:
    base, instance = site
    acknowledgements = Mailbox(instance, "acknowledgement")
    status_url, reference = ask(browser, base, "李娜", "上海零售协会")
    acknowledgement = acknowledgements.next()
    assert reference in acknowledgement["Reply-To"].addresses[0].addr_spec

    reply = organizers_reply(acknowledgement)
    deliver(instance.parent, reply)

    # The worker files it: on the staff timeline (the new text, not the quoted history)…
    sign_in_and_wait_for(browser, base, reference)
    request_page: str = browser.current_url

    def on_the_timeline() -> bool:
        browser.get(request_page)
        return NEW_TEXT in text(browser)

    wait_until(on_the_timeline, 60, "the worker to file the organizer's email")
    assert QUOTED not in text(browser)
    # …and on the organizer's status page.
    browser.get(status_url)
    assert NEW_TEXT in text(browser)
    assert QUOTED not in text(browser)

    # Staff answer from the request page.
    answer = "Yes: Mr Kuo will join the dinner. 期待见面。"
    replies = Mailbox(instance, "staff_reply")
    browser.get(request_page)
    fill(browser, "reply-text", answer)
    click(browser, "#reply button[type=submit]")
    assert "Reply sent." in text(browser)
    assert answer in text(browser)

    sent = replies.next()
    assert sent["To"].addresses[0].addr_spec == "li.na@example.com"
    assert sent["In-Reply-To"] == reply["Message-ID"]
    references = str(sent["References"]).split()
    assert acknowledgement["Message-ID"] in references
    assert reply["Message-ID"] in references
    assert sent["Subject"].startswith("Re: ")
    assert reference in sent["Subject"]
    assert answer in sent.get_body(("plain",)).get_content()
    assert csp_violations(browser) == []
