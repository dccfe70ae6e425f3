"""An engagement's words in its reader's language: its title and an online location.

The stored title is the English "<speaker> at <event>" (invites.engagement_for) and the
location of an online event "Online" or "Online (<venue>)"; each reader sees them in their
own language, the names as written. A title that is no longer that form (scrubbed by an
erasure, or the speaker renamed since) is shown as stored.
"""

from __future__ import annotations

from flask_babel import gettext


def stored_title(speaker: str, event: str) -> str:
    """The title an engagement is stored with (English: what shown_title reads back)."""
    return f"{speaker} at {event}"


def shown_title(title: str, speaker: str | None) -> str:
    """``title`` in the locale in force: 'Kai-Fu Lee at AI Summit', in Chinese the event first."""
    prefix = stored_title(speaker, "") if speaker else None
    if prefix is None or not title.startswith(prefix) or len(title) == len(prefix):
        return title
    return str(gettext("%(speaker)s at %(event)s", speaker=speaker, event=title[len(prefix) :]))


def shown_location(location: str) -> str:
    """An online event's location in the locale in force; any other as stored."""
    if location == "Online":
        return str(gettext("Online"))
    if location.startswith("Online (") and location.endswith(")"):
        return str(gettext("Online (%(venue)s)", venue=location[len("Online (") : -1]))
    return location
