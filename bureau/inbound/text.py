"""Readable text out of a MIME part: charsets that lie, HTML-only mail, quoted history.

Nothing here raises on bad input: a part that cannot be decoded gives replacement characters,
not an error, so a strange message is still read and kept.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from email.message import Message
from html.parser import HTMLParser

from charset_normalizer import from_bytes
from mailparser_reply import EmailReplyParser

# Declared charsets that are subsets of a wider one: decoding with the wider one loses nothing.
_WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ascii": "utf-8",
    "us-ascii": "utf-8",
}
# The reply parser reads these languages' "On … wrote:" lines and signatures.
_REPLY_LANGUAGES = ["en", "zh", "de", "fr", "es", "it", "nl"]
# Longer bodies are not searched for quoted history: the parser's patterns are not meant for them.
_REPLY_SEARCH_LIMIT = 100_000

_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset"),
        *("figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li"),
        *("main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul"),
    }
)
_SPACES = re.compile(r"[ \t\r\n\f]+")
_SKIPPED = frozenset({"script", "style", "head", "title", "template"})


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """The payload as text: the declared charset if Python knows it, else a good guess."""
    name = (charset or "").strip().strip('"').lower()
    name = _WIDER.get(name, name)
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            name = ""
    if name:
        return payload.decode(name, errors="replace")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(payload).best()
    return str(best) if best is not None else payload.decode("latin-1")


def part_text(part: Message) -> str:
    """A leaf part's decoded text (transfer encoding and charset undone), never raising."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken base64 or quoted-printable body: read what is there
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload, charset)


class _TextMaker(HTMLParser):
    """HTML to plain text: blocks become lines, scripts and styles vanish, links keep their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skipping = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCKS:
            self.out.append("\n")
            self._pre += tag == "pre"
        elif tag in {"td", "th"}:
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.out.append("\n")
            self._pre -= tag == "pre" and self._pre > 0

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        self.out.append(data if self._pre else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """The text a reader sees in an HTML body, one paragraph a line."""
    maker = _TextMaker()
    with contextlib.suppress(Exception):  # html.parser is lenient; a last guard only
        maker.feed(html)
        maker.close()
    joined = "".join(maker.out).replace("\xa0", " ")
    lines = [_SPACES.sub(" ", line).strip() for line in joined.splitlines()]
    text: list[str] = []
    for line in lines:
        if line or (text and text[-1]):
            text.append(line)
    return "\n".join(text).strip()


def reply_only(text: str) -> str:
    """The newest reply in a body: quoted history ("On … wrote:", Outlook's "From: … Sent:")
    and the signature folded away by mail-parser-reply. Falls back to the whole text."""
    if not text.strip() or len(text) > _REPLY_SEARCH_LIMIT:
        return text.strip()
    try:
        message = EmailReplyParser(languages=_REPLY_LANGUAGES).read(text)
        body = message.replies[0].body if message.replies else ""
    except Exception:  # a pattern that trips on odd input must not lose the message
        return text.strip()
    return _drop_quoted_lines(body) or text.strip()


def _drop_quoted_lines(text: str) -> str:
    """What the parser leaves when it does not know a client's header line (Gmail in Chinese
    ends it in 写道 and a full-width colon, Foxmail writes "---- 原始邮件 ----"): the trailing
    "> " block, the attribution line ending in a colon just above it, and a dashed separator."""
    lines = text.rstrip().splitlines()
    quoted = False
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        quoted = lines.pop().startswith(">") or quoted
    if quoted and lines and lines[-1].rstrip().endswith((":", "\uff1a")):
        lines.pop()
    if lines and _is_separator(lines[-1]):
        lines.pop()
    return "\n".join(lines).strip()


def _is_separator(line: str) -> bool:
    """A dashed line: "-----Original Message-----", "------- 原始邮件 -------"."""
    stripped = line.strip()
    return len(stripped) >= 10 and stripped.startswith("-----") and stripped.endswith("-----")
