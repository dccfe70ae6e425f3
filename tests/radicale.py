"""A real Radicale CalDAV server on a free local port, for interop tests."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.smtp import free_port


@contextmanager
def radicale_server(folder: Path, users: dict[str, str] | None = None) -> Iterator[str]:
    """Radicale serving ``folder``; with ``users`` (name → password) it asks for them."""
    config = folder / "config"
    port = free_port()
    auth = "[auth]\ntype = none\n"
    if users:
        htpasswd = folder / "users"
        htpasswd.write_text("".join(f"{name}:{password}\n" for name, password in users.items()))
        auth = (
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {htpasswd}\n"
            "htpasswd_encryption = plain\n"
        )
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n{auth}"
        f"[storage]\nfilesystem_folder = {folder / 'collections'}\n[rights]\ntype = owner_only\n"
        "[logging]\nlevel = warning\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers (asking for a password)
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
