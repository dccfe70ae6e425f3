"""The instance folder (database with password hashes and organizers' data, signing key,
emails) is for the account that runs Bureau only: folder 0700, files 0600, whatever the umask
(issue 15.7: under umask 022 the folder was 0755 and bureau.db and the .eml files 0644)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
from bureau import create_app
from bureau.extensions import db
from bureau.mail.transport import write_eml
from sqlalchemy import text

app = create_app()
with app.app_context():
    with db.engine.connect() as connection:  # WAL: -wal and -shm exist while it is open
        connection.execute(text("SELECT count(*) FROM staff_members"))
        write_eml(b"Subject: hello", app.config["BUREAU_SETTINGS"].instance_path / "mail", "m1")
        import os, stat
        for name in sorted(os.listdir(app.instance_path)):
            print(name, oct(stat.S_IMODE(os.stat(os.path.join(app.instance_path, name)).st_mode)))
"""


def bureau(instance: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
    env["BUREAU_INSTANCE_PATH"] = str(instance)
    return subprocess.run(
        [sys.executable, *arguments],
        env=env,
        cwd=instance.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask, which made them readable
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_after_a_start(instance: Path) -> dict[str, int]:
    bureau(instance, "-m", "bureau", "db", "upgrade")
    lines = bureau(instance, "-c", SCRIPT).stdout.splitlines()
    found = {name: int(octal, 8) for name, octal in (line.split() for line in lines)}
    assert {"bureau.db", "bureau.db-wal", "bureau.db-shm", "mail", "secret_key"} <= set(found)
    found["."] = mode(instance)
    found["mail/m1.eml"] = mode(instance / "mail" / "m1.eml")
    return found


@pytest.mark.slow  # `bureau` started for real under a umask
def test_a_new_instance_is_private_under_umask_022(tmp_path: Path) -> None:
    found = modes_after_a_start(tmp_path / "instance")
    folders = {".", "mail"}
    assert {name: m for name, m in found.items() if name in folders} == dict.fromkeys(
        folders, 0o700
    )
    assert {name: m for name, m in found.items() if name not in folders} == dict.fromkeys(
        set(found) - folders, 0o600
    )


@pytest.mark.slow  # `bureau` started for real, twice
def test_an_instance_made_readable_before_is_narrowed(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    modes_after_a_start(instance)
    os.chmod(instance, 0o755)
    os.chmod(instance / "bureau.db", 0o644)
    found = modes_after_a_start(instance)
    assert (found["."], found["bureau.db"], found["bureau.db-wal"]) == (0o700, 0o600, 0o600)
