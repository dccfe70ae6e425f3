"""Writing the catalogue: what needs the database to check is checked here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from bureau.catalogue.models import Speaker, Topic
from bureau.db import AnySession

# Optional texts in Chinese; None where the bureau has not written them.
CHINESE_FIELDS = ("name_zh", "headline_zh", "bio_zh", "home_city_zh")
SPEAKER_FIELDS = (  # set as given; the lists are set by save_speaker
    "slug",
    "name",
    "headline",
    "bio",
    "locale",
    "email",
    "home_city",
    "home_country",
    "home_timezone",
    "fee_min",
    "fee_max",
    "fee_currency",
    "is_active",
    "is_featured",
)


class SpeakerRefused(Exception):
    """Nothing was saved; ``problems`` names each field's problem."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def save_speaker(
    session: AnySession, speaker: Speaker | None, values: Mapping[str, Any]
) -> Speaker:
    """Create a speaker (``speaker`` None) or update one from checked form values; refused
    when the slug is another speaker's or a topic is unknown. The caller commits."""
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    problems: dict[str, str] = {}
    clash = session.scalar(
        select(Speaker.id).where(
            Speaker.slug == values["slug"], Speaker.id != (speaker.id if speaker else 0)
        )
    )
    if clash:
        problems["slug"] = _("Another speaker has this slug")
    unknown = [slug for slug in values["topics"] if slug not in topics]
    if unknown:
        problems["topics"] = _("Unknown: %(items)s", items=", ".join(unknown))
    if problems:
        raise SpeakerRefused(problems)
    if speaker is None:
        speaker = Speaker()
        session.add(speaker)
    for name in (*SPEAKER_FIELDS, *CHINESE_FIELDS):
        setattr(speaker, name, values[name])
    speaker.is_fee_example = False
    speaker.topics = [topics[slug] for slug in values["topics"]]
    speaker.set_languages(values["languages"])
    speaker.set_formats(values["formats"])
    return speaker
