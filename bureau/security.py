"""Security headers on every response, and the client address behind a reverse proxy."""

from __future__ import annotations

from flask import Flask, Response, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

# Strict for scripts and styles alike: no page has inline code (tests/test_csp.py reads every
# page), so an injected <script>, <style> or style= does nothing. Emails keep their inline
# styles: mail clients need them, and the staff mail log shows a message only as plain text.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def init_security(app: Flask) -> None:
    settings = app.config["BUREAU_SETTINGS"]

    @app.before_request
    def refuse_nul_bytes() -> None:
        """No address, query or form field has a use for NUL, and PostgreSQL refuses it in
        text: answer 400 here rather than fail deep in a query."""
        fields = list(request.args.items(multi=True))
        if request.method == "POST" and request.mimetype in FORM_TYPES:
            fields += list(request.form.items(multi=True))
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
            abort(400)

    @app.after_request
    def secure_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if settings.is_production:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    if settings.proxies:
        # Trust exactly this many proxies' X-Forwarded-* headers (client address, scheme).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxies,
            x_proto=settings.proxies,
            x_host=settings.proxies,
        )
