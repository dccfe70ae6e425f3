"""The bureau's mailbox read over IMAP (BUREAU_IMAP_URL): each new message is handed over,
then filed away in a done folder, so a message is handled once however polls overlap or die.

Handing over comes first: a poll that dies after it and before the filing leaves the message in
place, and the next poll hands it over again; the handler recognises it (by UIDVALIDITY and UID,
and by Message-ID) and says it is done, and it is filed then. The handler's "not now" leaves the
message for the next poll.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from bureau.config import ConfigError, check_imap_url

log = logging.getLogger(__name__)

# handle(raw message, UIDVALIDITY, UID) -> True: stored (or already stored), file it away;
# False: leave it for the next poll.
Handler = Callable[[bytes, int, int], bool]

PORTS = {"imap": 143, "imaps": 993}
BATCH = 20  # messages fetched at once: a message may be megabytes
TIMEOUT = 30.0  # seconds for connecting and for each answer
CLAIM = "($BureauFiled)"  # the keyword a poll sets on the messages it is filing


class MailboxProblem(Exception):
    """The mailbox cannot be read; the message says why, in words for an operator (never the
    password)."""


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    folder: str

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def mailbox(url: str) -> Mailbox:
    """The mailbox BUREAU_IMAP_URL names: ``imaps://user:pass@host[:port]/FOLDER`` (or
    ``imap://``, no TLS); user, password and folder are URL-decoded, the folder defaults to
    INBOX."""
    try:
        check_imap_url(url.strip())  # the checks start-up makes, for a URL given otherwise
    except ConfigError as error:
        raise MailboxProblem(str(error)) from None
    parts = urlsplit(url.strip())
    return Mailbox(
        host=parts.hostname or "",  # both checked above
        port=parts.port or PORTS[parts.scheme],
        tls=parts.scheme == "imaps",
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.strip("/")) or "INBOX",
    )


@contextmanager
def connected(box: Mailbox) -> Iterator[IMAPClient]:
    """A client signed in to the mailbox, logged out afterwards; MailboxProblem otherwise."""
    try:
        client = IMAPClient(box.host, port=box.port, ssl=box.tls, timeout=TIMEOUT)
    except ssl.SSLError as error:
        raise MailboxProblem(
            f"TLS with the IMAP server {box.host}:{box.port} failed: {error}"
        ) from None
    except (OSError, IMAPClientError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise MailboxProblem(
            f"cannot reach the IMAP server {box.host}:{box.port}: {reason}"
        ) from None
    try:
        try:
            client.login(box.user, box.password)
        except LoginError:
            raise MailboxProblem(
                f"the IMAP server refused to sign in {box.where} (user or password wrong?)"
            ) from None
        yield client
    except (OSError, IMAPClientError) as error:
        raise MailboxProblem(f"the IMAP server {box.host}:{box.port} failed: {error}") from None
    finally:
        with suppress(OSError, IMAPClientError):
            client.logout()


def poll(url: str, handle: Handler, *, folder_done: str = "Processed") -> int:
    """Hand every message in the mailbox's folder to ``handle`` and file those it took into
    ``folder_done`` (created if missing). Return how many were filed."""
    box = mailbox(url)
    with connected(box) as client:
        try:
            selected = client.select_folder(box.folder)
        except IMAPClientError as error:
            raise MailboxProblem(
                f"cannot open the folder {box.folder!r} of {box.where}: {error}"
            ) from None
        uidvalidity = int(selected[b"UIDVALIDITY"])
        _ensure_folder(client, folder_done)
        uids = sorted(client.search(["NOT", "DELETED"]))
        # BODY.PEEK: a message left for later stays unread for a person looking in.
        items = ["BODY.PEEK[]", "MODSEQ"] if client.has_capability("CONDSTORE") else ["BODY.PEEK[]"]
        filed = 0
        for start in range(0, len(uids), BATCH):
            done: dict[int, int] = {}  # UID: its MODSEQ when fetched (0 without CONDSTORE)
            try:
                for uid, data in sorted(client.fetch(uids[start : start + BATCH], items).items()):
                    raw = data.get(b"BODY[]")
                    if raw is not None and handle(bytes(raw), uidvalidity, uid):
                        done[uid] = int(data.get(b"MODSEQ", (0,))[0])
            finally:
                # Also when the handler raised: what it took is filed, not handed over again.
                filed += _file(client, _claim(client, done), folder_done)
        return filed


def _ensure_folder(client: IMAPClient, folder: str) -> None:
    if client.folder_exists(folder):
        return
    try:
        client.create_folder(folder)
    except IMAPClientError:
        if not client.folder_exists(folder):  # else another poll created it meanwhile
            raise


def _claim(client: IMAPClient, done: dict[int, int]) -> list[int]:
    """Of the messages handed over, those this poll files. With CONDSTORE (RFC 7162) a flag is
    set on each only if nothing changed it since this poll fetched it: of two polls that
    fetched it, one flags and files it (the other's flag fails: MODIFIED); a message another
    poll filed already is not flagged at all. Without CONDSTORE, all."""
    if not done or not client.has_capability("CONDSTORE"):
        return sorted(done)
    # imapclient has no UNCHANGEDSINCE: imaplib's uid() sends it and returns the FETCH answers
    # (one per message flagged, with its new MODSEQ, even for .SILENT).
    status, data = client._imap.uid(
        "STORE", _uid_set(done), f"(UNCHANGEDSINCE {max(done.values())})", "+FLAGS.SILENT", CLAIM
    )
    if status != "OK":
        raise IMAPClientError(f"STORE failed: {data!r}")
    flagged = {int(found.group(1)) for line in data if (found := _UID.search(_line(line)))}
    if set(done) - flagged:
        log.info("messages %s are filed by another poll", sorted(set(done) - flagged))
    return sorted(flagged & set(done))


_UID = re.compile(rb"\bUID (\d+)")


def _line(item: object) -> bytes:
    return item if isinstance(item, bytes) else b""


def _uid_set(uids: Iterable[int]) -> str:
    return ",".join(map(str, sorted(uids)))


def _file(client: IMAPClient, uids: Sequence[int], folder: str, *, again: bool = True) -> int:
    """Move the messages into ``folder``: MOVE where the server has it, else COPY, \\Deleted and
    EXPUNGE. A message another poll filed meanwhile is gone already, which is fine."""
    if not uids:
        return 0
    try:
        if client.has_capability("MOVE"):
            client.move(uids, folder)
        else:
            client.copy(uids, folder)
            client.add_flags(uids, [b"\\Deleted"])
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()
    except IMAPClientError:
        if not again:
            raise
        # Some were filed meanwhile (the server refuses the whole set then): file the rest.
        rest = client.search(["UID", _uid_set(uids), "NOT", "DELETED"])
        log.info(
            "messages %s of the mailbox were filed by another poll", sorted(set(uids) - set(rest))
        )
        return _file(client, rest, folder, again=False)
    return len(uids)
