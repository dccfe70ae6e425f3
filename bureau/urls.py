"""Absolute links for emails, invites and API answers, built on BUREAU_BASE_URL.

Works without a request (in workers): the URL map is bound to the configured base, whose
path part (a site under /bureau/, say) becomes the script root.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values: Any) -> str:
    base: str = current_app.config["BUREAU_SETTINGS"].base_url
    parts = urlsplit(base)
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target
