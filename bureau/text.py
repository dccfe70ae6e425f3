"""Cleaning of user text: one place decides which characters we keep."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls, DEL, and the bidirectional overrides that can disguise text (Trojan Source).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_SPACES = re.compile(r"[ \t\r\n]+")


def clean_line(value: str) -> str:
    """One line of text: NFC, control characters dropped, runs of white space folded."""
    value = unicodedata.normalize("NFC", value)
    value = _CONTROL.sub("", value.replace("\t", " ").replace("\n", " "))
    return _SPACES.sub(" ", value).strip()


def clean_text(value: str) -> str:
    """Multi-line text: NFC, newlines normalised to \\n, other control characters dropped."""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value.replace("\t", " "))
    lines = [line.rstrip() for line in value.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
