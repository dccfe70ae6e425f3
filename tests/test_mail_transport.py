"""SMTP transports against a real server: STARTTLS with authentication, implicit TLS."""

from __future__ import annotations

import dataclasses
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bureau.config import load_settings
from bureau.mail.transport import deliver
from bureau.outbox import PermanentError
from tests.smtp import Inbox, free_port

RAW = b"From: a@bureau.test\r\nTo: b@example.com\r\nSubject: TLS check\r\n\r\nHello\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"bureau", b"s3cr=t")
    return AuthResult(success=ok, handled=False)  # aiosmtpd sends 235 or 535


@pytest.fixture
def tls_server(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, request: Any
) -> Iterator[tuple[Inbox, int]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our test CA
    inbox, port = Inbox(), free_port()
    implicit = request.param == "smtps"
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        **(
            {"ssl_context": context}
            if implicit
            else {
                "tls_context": context,
                "require_starttls": True,
                "authenticator": authenticate,
                "auth_require_tls": True,
            }
        ),
    )
    controller.start()
    yield inbox, port
    controller.stop()


def settings_with(tmp_path: Path, url: str) -> Any:
    return dataclasses.replace(load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path)}), smtp_url=url)


@pytest.mark.parametrize("tls_server", ["starttls"], indirect=True)
def test_starttls_with_login(tls_server: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = tls_server
    url = f"smtp+starttls://bureau:s3cr%3Dt@localhost:{port}"
    deliver(
        RAW,
        sender="a@bureau.test",
        recipients=["b@example.com"],
        settings=settings_with(tmp_path, url),
        name="x",
    )
    assert [str(m["Subject"]) for m in inbox.messages] == ["TLS check"]


@pytest.mark.parametrize("tls_server", ["starttls"], indirect=True)
def test_wrong_password_is_permanent(tls_server: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = tls_server
    url = f"smtp+starttls://bureau:wrong@localhost:{port}"
    with pytest.raises(PermanentError, match="535"):
        deliver(
            RAW,
            sender="a@bureau.test",
            recipients=["b@example.com"],
            settings=settings_with(tmp_path, url),
            name="x",
        )
    assert inbox.messages == []


@pytest.mark.parametrize("tls_server", ["starttls"], indirect=True)
def test_plain_smtp_to_a_starttls_only_server_is_refused(
    tls_server: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = tls_server
    with pytest.raises(PermanentError, match="530"):
        deliver(
            RAW,
            sender="a@bureau.test",
            recipients=["b@example.com"],
            settings=settings_with(tmp_path, f"smtp://localhost:{port}"),
            name="x",
        )
    assert inbox.messages == []


@pytest.mark.parametrize("tls_server", ["smtps"], indirect=True)
def test_implicit_tls(tls_server: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = tls_server
    deliver(
        RAW,
        sender="a@bureau.test",
        recipients=["b@example.com"],
        settings=settings_with(tmp_path, f"smtps://localhost:{port}"),
        name="x",
    )
    assert len(inbox.messages) == 1
