"""Absolute links for emails, invites and API answers, built on BUREAU_BASE_URL."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on the configured public base, wherever the request came from."""
    path = url_for(endpoint, _external=False, **values)
    base: str = current_app.config["BUREAU_SETTINGS"].base_url
    return base + path
