"""The files a message carries, with names safe to show and to store under.

A sender chooses the filename: it can hold a path ("../../etc/passwd"), control characters or
a thousand characters. Only the last path segment survives, cleaned and shortened.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

_NAME_LIMIT = 120
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})


@dataclass(frozen=True)
class Attachment:
    """One attached file: sanitised filename, declared content type, size in bytes, contents.
    `inline` marks a picture the HTML shows in place (Outlook's signature logo, image001.png):
    a timeline may leave those out of the list of files."""

    filename: str
    content_type: str
    size: int
    data: bytes
    inline: bool = False


def attachments(msg: Message) -> Iterator[Attachment]:
    """Every part sent as a file: disposition attachment, or a named non-text part."""
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        name = _filename(part)
        disposition = _disposition(part)
        kind = part.get_content_type()
        if disposition != "attachment" and not (name and part.get_content_maintype() != "text"):
            continue
        data = _payload(part)
        yield Attachment(
            filename=sanitise_filename(name, kind),
            content_type=kind,
            size=len(data),
            data=data,
            inline=disposition != "attachment" and part.get("Content-ID") is not None,
        )


def calendar_parts(msg: Message) -> Iterator[tuple[bytes, str | None]]:
    """The bytes and charset of each calendar part, inline or attached."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind in _CALENDAR_TYPES or (_filename(part) or "").lower().endswith(".ics"):
            try:
                charset = part.get_content_charset()
            except Exception:
                charset = None
            yield _payload(part), charset


def sanitise_filename(name: str | None, content_type: str) -> str:
    """A filename without directories, control characters or leading dots, at most 120 long."""
    cleaned = unicodedata.normalize("NFC", name or "")
    cleaned = cleaned.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch)[0] != "C")
    cleaned = " ".join(cleaned.split()).strip(" .")
    if not cleaned:
        cleaned = "attachment" + (mimetypes.guess_extension(content_type) or ".bin")
    if len(cleaned) > _NAME_LIMIT:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            cleaned = stem[: _NAME_LIMIT - len(extension) - 1] + "." + extension
        else:
            cleaned = cleaned[:_NAME_LIMIT]
    return cleaned


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:  # a malformed RFC 2231 parameter
        return None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", errors="replace") if isinstance(raw, str) else b""
