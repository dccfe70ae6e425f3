"""`bureau run` from nothing: migrates, seeds, serves with a worker and beat, writes the
emails of a form submission to instance/mail/, and stops on SIGTERM or Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.conftest import CSRF_INPUT, SUBMISSION_INPUT, valid_request
from tests.smtp import free_port

# The real `bureau run`: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow


def start(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
    return subprocess.Popen(
        [sys.executable, "-m", "bureau", "run", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_serving(process: subprocess.Popen[str], port: int) -> list[str]:
    output: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Listening at" in line or "Booting worker" in line:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                return output
            except OSError:
                continue
    pytest.fail("bureau run did not start:\n" + "".join(output))


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: str = response.read().decode()
        return body


def submit_form(base: str) -> str:
    """Fill in the request form as a browser would (cookie, CSRF token); returns the page."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{base}/request?speaker=kaiser-kuo", timeout=10) as response:
        page = response.read().decode()
    fields = {k: v for k, v in valid_request().items() if k not in ("speakers", "virtual")}
    fields["speaker_1"] = "kaiser-kuo"
    for name, pattern in (("csrf_token", CSRF_INPUT), ("submission_token", SUBMISSION_INPUT)):
        found = pattern.search(page)
        assert found, f"no {name} on the form"
        fields[name] = found.group(1)
    data = urllib.parse.urlencode(fields).encode()
    with opener.open(f"{base}/request", data=data, timeout=10) as response:
        assert "/requests/" in response.url  # redirected to the status page
        body: str = response.read().decode()
        return body


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_the_catalogue_and_accepts_requests(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    process = start(tmp_path, port)
    try:
        output = "".join(wait_until_serving(process, port))
        assert f"Bureau is running at http://127.0.0.1:{port}/" in output
        assert "Loaded the demo catalogue" in output
        assert (tmp_path / "instance" / "bureau.db").exists()

        base = f"http://127.0.0.1:{port}"
        catalogue = get(f"{base}/speakers")
        assert "6 speakers" in catalogue
        request = urllib.request.Request(
            f"{base}/api/v1/requests",
            data=json.dumps(valid_request()).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            created = json.loads(response.read())
        # Links point at this server when BUREAU_BASE_URL is not set.
        assert created["status_url"].startswith(f"{base}/requests/")
        assert created["reference"] in get(created["status_url"])

        status_page = submit_form(base)
        assert "Thank you! We received your request" in status_page
        # The worker routes both requests and writes their emails; beat runs beside it.
        mail = tmp_path / "instance" / "mail"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(mail.glob("*.eml"))) < 4:
            time.sleep(0.25)
        names = sorted(path.name for path in mail.glob("*.eml"))
        assert len(names) == 4, names
        assert sum("acknowledgement" in name for name in names) == 2
        assert sum("assigned" in name for name in names) == 2
    finally:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            assert process.stdout is not None
            rest = process.stdout.read()
            process.stdout.close()
    assert process.returncode == 0
    # Each child's output is labelled; the worker ran the jobs, beat started.
    assert "celery@" in rest
    assert "beat   | " in rest
    assert "worker | " in rest
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
