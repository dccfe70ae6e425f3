"""The one exception every check raises: importers catch it to refuse to start in one line."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable in one line."""
