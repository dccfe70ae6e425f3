"""Files an email carries (a contract's or an invoice's PDF), made by the feature that owns them.

A feature registers, for one of its email templates, a function that reads the outbox job's
payload and returns the files; the mail task calls it when it composes the message, once (the
message is stored, so a retry sends the same bytes). The mail feature needs no import of the
features whose paper it carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bureau.db import AnySession


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    content: bytes


AttachmentMaker = Callable[[AnySession, dict[str, Any]], list[Attachment]]
_makers: dict[str, AttachmentMaker] = {}


def attaches(template: str) -> Callable[[AttachmentMaker], AttachmentMaker]:
    """Register the function that makes the files of every ``template`` email."""

    def register(maker: AttachmentMaker) -> AttachmentMaker:
        _makers[template] = maker
        return maker

    return register


def attachments_for(
    session: AnySession, template: str, payload: dict[str, Any]
) -> list[Attachment]:
    maker = _makers.get(template)
    return maker(session, payload) if maker is not None else []
