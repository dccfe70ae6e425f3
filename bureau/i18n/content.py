"""A speaker's words in the reader's language: the Chinese name, headline, biography and home
city, and a topic's Chinese name, where the bureau wrote them and the reader reads Chinese, else
the English ones (always there).

Each comes with the language it is in, so a page can say so (``lang="zh-Hans"``) on the
element that shows it: a Chinese page may show an English biography, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import Row

from bureau.i18n import DEFAULT_LOCALE, LOCALES, current_locale, html_lang

if TYPE_CHECKING:
    from bureau.catalogue.models import Post, Speaker, Topic

# The columns that hold each text in each language other than English.
_TRANSLATED = {"zh_Hans": "_zh"}


@dataclass(frozen=True)
class Shown:
    """A piece of content and the language it is written in ('en', 'zh_Hans')."""

    text: str
    locale: str

    @property
    def lang(self) -> str:
        """The BCP 47 tag for a ``lang`` attribute: 'en', 'zh-Hans'."""
        return html_lang(self.locale)

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.text.split("\n\n") if p.strip()]

    def __str__(self) -> str:
        return self.text


def _shown(
    row: Speaker | Topic | Row[str, str, str | None], field: str, locale: str | None
) -> Shown:
    wanted = locale or current_locale()
    suffix = _TRANSLATED.get(wanted)
    if suffix:
        text = (getattr(row, field + suffix) or "").strip()
        if text:
            return Shown(text, wanted)
    return Shown(getattr(row, field), DEFAULT_LOCALE)


def shown_name(speaker: Speaker, locale: str | None = None) -> Shown:
    return _shown(speaker, "name", locale)


def shown_headline(speaker: Speaker, locale: str | None = None) -> Shown:
    return _shown(speaker, "headline", locale)


def shown_bio(speaker: Speaker, locale: str | None = None) -> Shown:
    return _shown(speaker, "bio", locale)


def shown_city(speaker: Speaker, locale: str | None = None) -> Shown:
    return _shown(speaker, "home_city", locale)


def shown_topic(topic: Topic, locale: str | None = None) -> Shown:
    return _shown(topic, "name", locale)


def name_with_english(
    speaker: Speaker | Row[str, str, str | None], locale: str | None = None
) -> str:
    """The speaker's name for a choice list: the reader's language's, with the English as
    written beside it where they differ ('郭怡广 (Kaiser Kuo)' with Chinese brackets); else the
    English alone. ``speaker`` may be a row of the name columns alone."""
    shown = _shown(speaker, "name", locale)
    if shown.text == speaker.name:
        return speaker.name
    return str(_("%(name)s (%(english)s)", name=shown.text, english=speaker.name))


def names_with_english(
    speakers: Iterable[Speaker | Row[str, str, str | None]], locale: str | None = None
) -> list[str]:
    """``name_with_english`` of each, a thousand at a time: in English (no translated names
    to show) the names as they are."""
    wanted = locale or current_locale()
    if wanted not in _TRANSLATED:
        return [speaker.name for speaker in speakers]
    return [name_with_english(speaker, wanted) for speaker in speakers]


def post_language(post: Post) -> Shown:
    """The language a post is written in, by its own name ('English', '简体中文')."""
    code = post.language if post.language in LOCALES else DEFAULT_LOCALE
    return Shown(LOCALES[code], code)


TEMPLATE_GLOBALS = {
    "shown_name": shown_name,
    "shown_headline": shown_headline,
    "shown_bio": shown_bio,
    "shown_city": shown_city,
    "shown_topic": shown_topic,
    "post_language": post_language,
}
