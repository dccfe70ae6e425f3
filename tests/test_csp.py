"""The content security policy is strict for scripts and styles, and no page needs it looser:
every GET page (public and staff, from the URL map) carries no inline style or script."""

from __future__ import annotations

from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import form_tokens
from tests.site_pages import ADMIN, ERROR_PATHS, demo_site, every_page
from tests.workflow_helpers import sign_in

__all__ = ["demo_site"]  # a fixture: pytest finds it by name


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


# Sources that let inline or injected code run, or code from anywhere.
LOOSE = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:"}


def test_policy_allows_no_inline_script_or_style(client: FlaskClient) -> None:
    for path in ("/", "/request", "/staff/login", "/nothing-here"):
        policy = directives(client.get(path).headers["Content-Security-Policy"])
        for name in ("default-src", "script-src", "style-src"):
            assert "'self'" in policy[name], (path, name)
            assert not LOOSE & set(policy[name]), (path, name, policy[name])


class InlineCode(HTMLParser):
    """What a strict policy blocks: style attributes, <style>, inline <script>, on*=
    handlers and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            script_url = (value or "").strip().lower().startswith("javascript:")
            if name == "style" or name.startswith("on") or script_url:
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "style" or (tag == "script" and not dict(attrs).get("src")):
            self.found.append(f"<{tag}> inline")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def test_the_checker_sees_inline_code() -> None:
    page = (
        '<p style="color:red">a</p><style>p{}</style><script>x()</script>'
        '<script src="/s.js"></script><a href="javascript:x()" onclick="x()">b</a><br/>'
    )
    assert len(inline_code(page)) == 5
    assert inline_code('<p class="text-pre-wrap">a</p><script src="/s.js"></script>') == []


def check_pages(
    client: FlaskClient, paths: list[str]
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Inline code found in HTML answers, by path, and the status of those not 200."""
    found: dict[str, list[str]] = {}
    not_ok: dict[str, int] = {}
    for path in paths:
        response = client.get(path)
        if response.status_code != 200:
            not_ok[path] = response.status_code
        if response.mimetype == "text/html":
            found[path] = inline_code(response.get_data(as_text=True))
    return found, not_ok


def test_no_page_has_inline_style_or_script(demo_site: Flask) -> None:
    paths = list(every_page(demo_site))
    visitor = demo_site.test_client()
    found, _ = check_pages(visitor, paths)
    # The forms again, as they show errors.
    tokens = form_tokens(visitor)
    response = visitor.post("/request", data={**tokens, "event_name": "x"})
    assert "is-invalid" in response.get_data(as_text=True)
    found["/request (errors)"] = inline_code(response.get_data(as_text=True))

    admin = demo_site.test_client()
    assert sign_in(admin, ADMIN).status_code in (302, 303)
    staff_found, not_ok = check_pages(admin, paths)
    assert not_ok == ERROR_PATHS  # every other page rendered in full for an admin
    found.update({f"{path} (admin)": problems for path, problems in staff_found.items()})
    problems = [f"{path}: {', '.join(codes)}" for path, codes in found.items() if codes]
    assert not problems, "\n".join(problems)
