"""Where templates, static files and migrations are: beside the package in a checkout
(editable install), inside it in a built wheel (see pyproject's force-include)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"Bureau is installed without its {name}/ folder (looked beside {_PACKAGE})")
