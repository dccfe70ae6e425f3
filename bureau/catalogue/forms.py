"""The catalogue admin's forms; each checks what it can without the database."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from bureau.bookings.forms import choices
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.catalogue.services import CHINESE_FIELDS, SPEAKER_FIELDS
from bureau.i18n import DEFAULT_LOCALE, LOCALES
from bureau.reference import CURRENCIES, country_names, event_languages

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_RULE = _l("Lower-case words joined by -")
# Chinese text has at least one Han character (a pasted English text is a mistake).
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def listed(raw: str | None) -> list[str]:
    """The items of a comma-separated field."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _known(field: Field, allowed: Any) -> None:
    unknown = [item for item in listed(field.data) if item not in allowed]
    if unknown:
        raise ValidationError(_("Unknown: %(items)s", items=", ".join(unknown)))


def _chinese(field: Field) -> None:
    if (field.data or "").strip() and not HAN.search(field.data):
        raise ValidationError(_("Write this in Chinese characters, or leave it empty"))


def _language_choices() -> list[tuple[str, str]]:
    return list(LOCALES.items())


class SpeakerForm(FlaskForm):
    slug = StringField(_l("Slug (web address)"), validators=[DataRequired(), Length(max=80)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    headline = StringField(_l("Headline"), validators=[DataRequired(), Length(max=200)])
    bio = TextAreaField(_l("Biography"), validators=[DataRequired(), Length(max=20000)])
    # The Chinese texts are optional: a Chinese page shows the English ones where they are empty.
    name_zh = StringField(_l("Name in Chinese"), validators=[Optional(), Length(max=120)])
    headline_zh = StringField(_l("Headline in Chinese"), validators=[Optional(), Length(max=200)])
    bio_zh = TextAreaField(_l("Biography in Chinese"), validators=[Optional(), Length(max=20000)])
    locale = SelectField(
        _l("Language the bureau writes to the speaker in"),
        choices=_language_choices,
        default=DEFAULT_LOCALE,
    )
    email = EmailField(_l("Email (for availability checks)"), validators=[Optional(), Email()])
    home_city = StringField(_l("Home city"), validators=[DataRequired(), Length(max=120)])
    home_city_zh = StringField(_l("Home city in Chinese"), validators=[Optional(), Length(max=120)])
    home_country = StringField(
        _l("Home country (ISO code)"), validators=[DataRequired(), Length(2, 2)]
    )
    home_timezone = StringField(
        _l("Home time zone (IANA)"), validators=[DataRequired(), Length(max=64)]
    )
    fee_min = IntegerField(_l("Fee from"), validators=[InputRequired(), NumberRange(0, 10_000_000)])
    fee_max = IntegerField(
        _l("Fee up to"), validators=[InputRequired(), NumberRange(0, 10_000_000)]
    )
    fee_currency = SelectField(
        _l("Currency"), choices=choices(((c, c) for c in CURRENCIES), blank=None), default="USD"
    )
    topics = StringField(_l("Topics (slugs, comma-separated)"), validators=[Optional()])
    languages = StringField(
        _l("Languages (ISO codes, comma-separated)"), validators=[DataRequired()]
    )
    formats = StringField(_l("Formats (comma-separated)"), validators=[DataRequired()])
    is_active = BooleanField(_l("Active (listed and bookable)"), default=True)
    is_featured = BooleanField(_l("Featured on the home page"))
    known_topics: set[str] = set()  # the view sets the catalogue's topic slugs

    def validate_slug(self, field: Field) -> None:
        if not SLUG.match(field.data or ""):
            raise ValidationError(str(SLUG_RULE))

    def validate_name_zh(self, field: Field) -> None:
        _chinese(field)

    def validate_headline_zh(self, field: Field) -> None:
        _chinese(field)

    def validate_bio_zh(self, field: Field) -> None:
        _chinese(field)

    def validate_home_city_zh(self, field: Field) -> None:
        _chinese(field)

    def validate_home_country(self, field: Field) -> None:
        if (field.data or "").upper() not in country_names():
            raise ValidationError(_("Not a country code"))

    def validate_home_timezone(self, field: Field) -> None:
        if field.data not in available_timezones():
            raise ValidationError(_("Not an IANA time zone"))

    def validate_fee_max(self, field: Field) -> None:
        if (self.fee_min.data or 0) > (field.data or 0):
            raise ValidationError(_("Must not be below the lower fee"))

    def validate_topics(self, field: Field) -> None:
        _known(field, self.known_topics)

    def validate_languages(self, field: Field) -> None:
        _known(field, event_languages())

    def validate_formats(self, field: Field) -> None:
        _known(field, SPEAKER_FORMATS)

    def values(self) -> dict[str, Any]:
        """The speaker's fields as plain values, lists split."""
        return {
            **{name: getattr(self, name).data for name in SPEAKER_FIELDS},
            "email": self.email.data or None,
            **{name: _text_or_none(getattr(self, name).data) for name in CHINESE_FIELDS},
            "home_country": (self.home_country.data or "").upper(),
            "topics": listed(self.topics.data),
            "languages": listed(self.languages.data),
            "formats": listed(self.formats.data),
        }


def _text_or_none(value: str | None) -> str | None:
    """A text as stored: blank is none, Windows line ends become plain ones."""
    text = (value or "").replace("\r\n", "\n").strip()
    return text or None


class TopicNamesForm(FlaskForm):
    """A topic's names; its slug stays, as links to the filtered speakers list use it."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    name_zh = StringField(_l("Topic name in Chinese"), validators=[Optional(), Length(max=120)])

    def validate_name_zh(self, field: Field) -> None:
        _chinese(field)

    def chinese_name(self) -> str | None:
        return _text_or_none(self.name_zh.data)


class TopicForm(TopicNamesForm):
    slug = StringField(_l("Slug"), validators=[DataRequired(), Length(max=80)])


class PostForm(FlaskForm):
    slug = StringField(_l("Slug"), validators=[DataRequired(), Length(max=120)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    language = SelectField(
        _l("Language of the post"), choices=_language_choices, default=DEFAULT_LOCALE
    )
    published_on = DateField(_l("Date"), validators=[InputRequired()])
    source = StringField(_l("Source"), validators=[Optional(), Length(max=120)])
    body = TextAreaField(_l("Text (blank line between paragraphs)"), validators=[DataRequired()])
    speakers = StringField(
        _l("Speakers mentioned (slugs, comma-separated)"), validators=[Optional()]
    )
