"""Stored emails as staff who are not admins see them: every private link hidden.

A stored email holds its reader's private links (an organizer's status page, a speaker's
signed Accept link, a calendar feed's token); whoever reads it can act as that reader. So
every part is decoded (quoted-printable, base64, folded .ics lines would hide a token from
a plain search), each link to one of our pages that takes a token is replaced by
``[link hidden]``, and the message is written out again with readable bodies.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from email import message_from_string
from email.message import EmailMessage
from email.policy import SMTP
from urllib.parse import parse_qs, urlsplit

from flask import current_app
from werkzeug.exceptions import HTTPException, MethodNotAllowed

logger = logging.getLogger(__name__)

HIDDEN = "[link hidden]"
# A URL ends at white space, quotes, angle brackets and an iCalendar escape's backslash.
_URL = re.compile(r"https?://[^\s\"'<>\\]+")
# RFC 5545 3.1: a line break followed by one space or tab continues the line.
_FOLD = re.compile(r"\r?\n[ \t]")


def is_private(url: str) -> bool:
    """Whether ``url`` opens one of our pages by a secret: a ``token`` in its path or query."""
    parts = urlsplit(url)
    if "token" in parse_qs(parts.query):
        return True
    root = urlsplit(current_app.config["BUREAU_SETTINGS"].base_url).path.rstrip("/")
    path = parts.path[len(root) :] if root and parts.path.startswith(root + "/") else parts.path
    adapter = current_app.url_map.bind("localhost")
    try:
        _, values = adapter.match(path, method="GET")
    except MethodNotAllowed:
        return True  # a form's action has no place in an email: hidden all the same
    except HTTPException:  # not one of our pages (or a redirect to one): nothing of ours
        return False
    return "token" in values


def hide_links(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with private links, and the given secrets wherever they stand, hidden."""
    text = _URL.sub(lambda found: HIDDEN if is_private(found.group(0)) else found.group(0), text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


def redacted(raw: str, secrets: Iterable[str] = ()) -> str:
    """The stored message ``raw`` with every text part decoded and its private links hidden
    (other parts are left out); a message that cannot be read shows its headers only."""
    secrets = list(secrets)
    message = message_from_string(raw, _class=EmailMessage, policy=SMTP)
    try:
        for part in message.walk():
            if part.is_multipart():
                continue
            if part.get_content_maintype() != "text":
                _replace_body(part, "[attachment hidden]")
                continue
            text = part.get_content()
            if part.get_content_subtype() == "calendar":
                text = _FOLD.sub("", text)
            _replace_body(part, hide_links(text, secrets))
        shown = message.as_string()
    except (LookupError, ValueError, TypeError) as error:  # an unknown charset, a bad part
        logger.warning("stored email not readable for redaction: %s", error)
        head = raw.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
        shown = f"{head}\r\n\r\n[body hidden: it could not be read]\r\n"
    return hide_links(shown, secrets)


def _replace_body(part: EmailMessage, text: str) -> None:
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "8bit"
    part.set_payload(text)
