"""A real Dovecot IMAP server of the tests' own (Debian's dovecot-imapd): a free port on
127.0.0.1, its config, mail, passwords, sockets and log in a temporary folder, one plain-text
user. The tests deliver mail into it with IMAP APPEND. Skipped locally, saying why, when
Dovecot is not installed; a failure under CI (which installs it)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bench.processes import Child
from tests.services import missing
from tests.smtp import free_port

USER = "bureau"
PASSWORD = "imap pass/word%"  # characters the URL must encode


@dataclass(frozen=True)
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    folder: Path

    def url(self, folder: str = "INBOX", password: str | None = None) -> str:
        """BUREAU_IMAP_URL for this server (plain IMAP: there is no certificate)."""
        secret = quote(self.password if password is None else password, safe="")
        return f"imap://{self.user}:{secret}@{self.host}:{self.port}/{folder}"

    def log(self) -> str:
        try:
            return (self.folder / "dovecot.log").read_text(errors="replace")
        except OSError:
            return "(no log)"


def dovecot_binary() -> str:
    candidates = (shutil.which("dovecot"), "/usr/sbin/dovecot")  # sbin: not on every PATH
    found = next((path for path in candidates if path and Path(path).exists()), None)
    if found is None:
        missing("Dovecot is not installed", "apt-get install dovecot-imapd to run this test")
    return found


def _config(folder: Path, port: int) -> str:
    """dovecot.conf for a server run by the current user. Run as root (CI, containers), its
    processes take Debian's dovecot/dovenull users: Dovecot refuses root for them."""
    if os.getuid() == 0:
        mail_user, login = pwd.getpwnam("dovecot"), "dovenull"
        chroot = ""  # the login process is chrooted into base_dir/login, Dovecot's default
    else:
        mail_user = pwd.getpwuid(os.getuid())
        login = mail_user.pw_name
        chroot = "  chroot =\n"  # only root may chroot
    internal, group = mail_user.pw_name, grp.getgrgid(mail_user.pw_gid).gr_name
    return f"""\
base_dir = {folder}/run
state_dir = {folder}/state
instance_name = bureau-test-{port}
log_path = {folder}/dovecot.log
info_log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{folder}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={folder}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{chroot}}}
service anvil {{
  chroot =
}}
"""


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


@contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    """Start Dovecot in the foreground, wait for its greeting, stop it and remove its folder."""
    binary = dovecot_binary()
    # Not pytest's tmp_path: run as root, Dovecot's own users must reach the mail folder, and
    # pytest's folders are private to root.
    folder = Path(tempfile.mkdtemp(prefix="bureau-dovecot-"))
    port = free_port()
    (folder / "mail").mkdir()
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    (folder / "dovecot.conf").write_text(_config(folder, port))
    if os.getuid() == 0:
        mail_user = pwd.getpwnam("dovecot")
        for path in (folder, folder / "mail", folder / "passwd"):
            os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
        folder.chmod(0o755)
    child = Child(
        "dovecot",
        [binary, "-F", "-c", str(folder / "dovecot.conf")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=folder,
        log=folder / "stderr.log",
    )
    server = Dovecot("127.0.0.1", port, USER, PASSWORD, folder)
    try:
        child.start()
        deadline = time.monotonic() + 20
        while not _greets(port):
            if not child.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot did not start:\n{child.tail()}\n{server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        child.stop()
        shutil.rmtree(folder, ignore_errors=True)
