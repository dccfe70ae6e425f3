"""Security headers on every page (a CSP without inline scripts), the client address behind
a proxy, and an .env.example that names every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bureau.config import ConfigError, load_settings
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    for path in ("/", "/request", "/staff/login", "/api/v1/speakers", "/nothing-here"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_templates_have_no_inline_scripts() -> None:
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+=\"", text), template  # no inline handlers


def test_client_address_behind_a_proxy(tmp_path: Path, database_url: str, app: Flask) -> None:
    seen: list[str] = []
    for proxies in ("1", "0"):
        application = make_app(tmp_path, database_url, BUREAU_PROXIES=proxies)

        def whoami() -> str:
            from flask import request

            seen.append(request.remote_addr or "")
            return "ok"

        application.add_url_rule("/whoami-test", "whoami", whoami)
        application.test_client().get("/whoami-test", headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen == ["203.0.113.7", "127.0.0.1"]


def test_bad_proxy_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^BUREAU_PROXIES"):
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_PROXIES": "many"})
