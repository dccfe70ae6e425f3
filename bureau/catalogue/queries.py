"""Catalogue look-ups: speaker search with filters, posts, and their options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from bureau.catalogue.copies import per_catalogue
from bureau.catalogue.models import (
    Post,
    PostSpeaker,
    Speaker,
    SpeakerFormat,
    SpeakerLanguage,
    Topic,
    speaker_topics,
)
from bureau.db import AnySession
from bureau.i18n import current_locale
from bureau.i18n.content import names_with_english

# Fee band filter values -> (low, high) overlapping a speaker's band; None is open-ended.
FEE_BANDS: dict[str, tuple[str, int, int | None]] = {
    "under-10k": (_l("Up to 10,000"), 0, 10_000),
    "10k-25k": (_l("10,000 to 25,000"), 10_000, 25_000),
    "over-25k": (_l("25,000 and more"), 25_000, None),
}
_WORD = re.compile(r"\w+", re.UNICODE)
# Chinese has no spaces and PostgreSQL's text search no Chinese parser: a word with a Han
# character is found as a substring (ILIKE, which the pg_trgm index of 0023 serves).
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
SEARCHED_TEXTS = (
    Speaker.name,
    Speaker.name_zh,
    Speaker.headline,
    Speaker.headline_zh,
    Speaker.bio,
    Speaker.bio_zh,
)


@dataclass(frozen=True)
class SpeakerFilters:
    q: str = ""
    topic: str = ""
    language: str = ""
    format: str = ""
    fee: str = ""

    @property
    def active(self) -> bool:
        return any((self.q, self.topic, self.language, self.format, self.fee))


def speaker_search(filters: SpeakerFilters, dialect: str) -> Select[Speaker]:
    """Active speakers matching every given filter, best match first for a text query."""
    stmt = select(Speaker).where(Speaker.is_active)
    order: list[Any] = [Speaker.name]
    # A query without a single word (punctuation only) filters nothing, on either database.
    words = _WORD.findall(filters.q.lower())[:8]
    if words:
        topic_names = _topic_names(Topic.name, dialect)
        document = Speaker.name + " " + Speaker.headline + " " + Speaker.bio + " " + topic_names
        if dialect == "postgresql" and any(_HAN.search(word) for word in words):
            # Every word occurs in one of the texts, English or Chinese.
            stmt = stmt.where(and_(*(_in_any_text(word) for word in words)))
        elif dialect == "postgresql":
            vector = func.to_tsvector("english", document)
            query = func.websearch_to_tsquery("english", filters.q)
            stmt = stmt.where(vector.op("@@")(query))
            order = [func.ts_rank(vector, query).desc(), Speaker.name]
        else:
            # SQLite: every word must occur somewhere (case-insensitive substring match).
            for chinese in (Speaker.name_zh, Speaker.headline_zh, Speaker.bio_zh):
                document = document + " " + func.coalesce(chinese, "")
            document = document + " " + _topic_names(Topic.name_zh, dialect)
            stmt = stmt.where(
                and_(*(func.lower(document).contains(word, autoescape=True) for word in words))
            )
    if filters.topic:
        stmt = stmt.where(Speaker.topics.any(Topic.slug == filters.topic))
    if filters.language:
        stmt = stmt.where(
            exists().where(
                SpeakerLanguage.speaker_id == Speaker.id, SpeakerLanguage.code == filters.language
            )
        )
    if filters.format:
        stmt = stmt.where(
            exists().where(
                SpeakerFormat.speaker_id == Speaker.id, SpeakerFormat.format == filters.format
            )
        )
    if filters.fee in FEE_BANDS:
        _, low, high = FEE_BANDS[filters.fee]
        conditions = [Speaker.fee_max >= low]
        if high is not None:
            conditions.append(Speaker.fee_min <= high)
        stmt = stmt.where(and_(*conditions))
    return stmt.options(
        selectinload(Speaker.topics),
        selectinload(Speaker.language_rows),
        selectinload(Speaker.format_rows),
    ).order_by(*order)


def _topic_names(column: Any, dialect: str) -> Any:
    """The speaker's topics' names in ``column`` (English or Chinese), space-separated."""
    aggregate = (
        func.group_concat(column, " ") if dialect == "sqlite" else func.string_agg(column, " ")
    )
    return (
        select(func.coalesce(aggregate, ""))
        .join(speaker_topics, speaker_topics.c.topic_id == Topic.id)
        .where(speaker_topics.c.speaker_id == Speaker.id)
        .scalar_subquery()
    )


def _in_any_text(word: str) -> ColumnElement[bool]:
    """``word`` occurs in one of the speaker's texts or topics' Chinese names (PostgreSQL
    ILIKE, wildcards escaped)."""
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
    return or_(
        *(column.ilike(pattern, escape="\\") for column in SEARCHED_TEXTS),
        Speaker.topics.any(Topic.name_zh.ilike(pattern, escape="\\")),
    )


def active_speaker_choices(session: AnySession) -> tuple[tuple[str, str], ...]:
    """(slug, label) of every active speaker by name, labelled as ``name_with_english``
    does in the reader's locale. Every request form, staff dashboard and request page lists
    them, a thousand speakers: kept per catalogue version (copies.py), a tuple, the same
    one until the catalogue changes (templating.options keeps its rendering)."""
    locale = current_locale()

    def build(session: AnySession) -> tuple[tuple[str, str], ...]:
        rows = session.execute(
            select(Speaker.slug, Speaker.name, Speaker.name_zh)
            .where(Speaker.is_active)
            .order_by(Speaker.name)
        ).all()
        labels = names_with_english(rows, locale)
        return tuple(zip((row.slug for row in rows), labels, strict=True))

    return per_catalogue(session, ("active_speaker_choices", locale), build)


def topics_in_use(session: AnySession) -> list[Topic]:
    return list(
        session.scalars(
            select(Topic).where(Topic.speakers.any(Speaker.is_active)).order_by(Topic.name)
        )
    )


def languages_in_use(session: AnySession) -> list[str]:
    return list(
        session.scalars(
            select(SpeakerLanguage.code)
            .join(Speaker, Speaker.id == SpeakerLanguage.speaker_id)
            .where(Speaker.is_active)
            .distinct()
            .order_by(SpeakerLanguage.code)
        )
    )


def speaker_by_slug(session: AnySession, slug: str, *, active_only: bool = True) -> Speaker | None:
    stmt = select(Speaker).where(Speaker.slug == slug).options(selectinload(Speaker.topics))
    if active_only:
        stmt = stmt.where(Speaker.is_active)
    return session.scalars(stmt).one_or_none()


def posts_newest_first() -> Select[Post]:
    return (
        select(Post)
        .options(selectinload(Post.speaker_links))
        .order_by(Post.published_on.desc(), Post.id.desc())
    )


def posts_mentioning(speaker: Speaker, limit: int = 5) -> Select[Post]:
    return (
        posts_newest_first()
        .where(Post.speaker_links.any(PostSpeaker.speaker_id == speaker.id))
        .limit(limit)
    )


def featured_speakers(session: AnySession, limit: int = 6) -> list[Speaker]:
    return list(
        session.scalars(
            select(Speaker)
            .where(Speaker.is_active, Speaker.is_featured)
            .options(selectinload(Speaker.topics))
            .order_by(Speaker.name)
            .limit(limit)
        )
    )
