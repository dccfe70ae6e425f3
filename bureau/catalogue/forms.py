"""The catalogue admin's forms; each checks what it can without the database."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

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
from bureau.catalogue.services import SPEAKER_FIELDS
from bureau.reference import CURRENCIES, country_names, event_languages

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_RULE = "Lower-case words joined by -"


def listed(raw: str | None) -> list[str]:
    """The items of a comma-separated field."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _known(field: Field, allowed: Any) -> None:
    unknown = [item for item in listed(field.data) if item not in allowed]
    if unknown:
        raise ValidationError(f"Unknown: {', '.join(unknown)}")


class SpeakerForm(FlaskForm):
    slug = StringField("Slug (web address)", validators=[DataRequired(), Length(max=80)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    headline = StringField("Headline", validators=[DataRequired(), Length(max=200)])
    bio = TextAreaField("Biography", validators=[DataRequired(), Length(max=20000)])
    email = EmailField("Email (for availability checks)", validators=[Optional(), Email()])
    home_city = StringField("Home city", validators=[DataRequired(), Length(max=120)])
    home_country = StringField("Home country (ISO code)", validators=[DataRequired(), Length(2, 2)])
    home_timezone = StringField(
        "Home time zone (IANA)", validators=[DataRequired(), Length(max=64)]
    )
    fee_min = IntegerField("Fee from", validators=[InputRequired(), NumberRange(0, 10_000_000)])
    fee_max = IntegerField("Fee up to", validators=[InputRequired(), NumberRange(0, 10_000_000)])
    fee_currency = SelectField(
        "Currency", choices=choices(((c, c) for c in CURRENCIES), blank=None), default="USD"
    )
    topics = StringField("Topics (slugs, comma-separated)", validators=[Optional()])
    languages = StringField("Languages (ISO codes, comma-separated)", validators=[DataRequired()])
    formats = StringField("Formats (comma-separated)", validators=[DataRequired()])
    is_active = BooleanField("Active (listed and bookable)", default=True)
    is_featured = BooleanField("Featured on the home page")
    known_topics: set[str] = set()  # the view sets the catalogue's topic slugs

    def validate_slug(self, field: Field) -> None:
        if not SLUG.match(field.data or ""):
            raise ValidationError(SLUG_RULE)

    def validate_home_country(self, field: Field) -> None:
        if (field.data or "").upper() not in country_names():
            raise ValidationError("Not a country code")

    def validate_home_timezone(self, field: Field) -> None:
        if field.data not in available_timezones():
            raise ValidationError("Not an IANA time zone")

    def validate_fee_max(self, field: Field) -> None:
        if (self.fee_min.data or 0) > (field.data or 0):
            raise ValidationError("Must not be below the lower fee")

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
            "home_country": (self.home_country.data or "").upper(),
            "topics": listed(self.topics.data),
            "languages": listed(self.languages.data),
            "formats": listed(self.formats.data),
        }


class TopicForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=80)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])


class PostForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=120)])
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    published_on = DateField("Date", validators=[InputRequired()])
    source = StringField("Source", validators=[Optional(), Length(max=120)])
    body = TextAreaField("Text (blank line between paragraphs)", validators=[DataRequired()])
    speakers = StringField("Speakers mentioned (slugs, comma-separated)", validators=[Optional()])
