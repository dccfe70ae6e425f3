"""The public request form. Its fields carry the API's names; the checks live in validation.py."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional, StopValidation

from bureau.bookings.models import FEEDBACK_COMMENTS_MAX, RATINGS
from bureau.bookings.validation import FIELDS, TEXT_LIMITS
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.i18n import current_locale
from bureau.reference import CURRENCIES, localized_names, timezone_names

SPEAKER_FIELDS = ("speaker_1", "speaker_2", "speaker_3")
_ZONES = sorted(z for z in timezone_names() if "/" in z and not z.startswith("Etc/"))


CHOOSE = _l("Choose…")


def choices(pairs: Iterable[tuple[str, Any]], blank: Any = CHOOSE) -> list[Any]:
    """WTForms options from (value, label) pairs, with an optional blank first."""
    options = [SelectChoice("", blank)] if blank is not None else []
    return options + [SelectChoice(value, label) for value, label in pairs]


def _zonechoices() -> list[Any]:
    options = [SelectChoice("", CHOOSE)]
    for zone in _ZONES:
        region, _, place = zone.partition("/")
        options.append(SelectChoice(zone, place.replace("_", " "), optgroup=region))
    return options


def _text(label: Any, name: str, **render_kw: Any) -> StringField:
    return StringField(label, render_kw={"maxlength": TEXT_LIMITS[name], **render_kw})


class RequestForm(FlaskForm):
    speaker_1 = SelectField(_l("First choice"), validate_choice=False)
    speaker_2 = SelectField(_l("Second choice (optional)"), validate_choice=False)
    speaker_3 = SelectField(_l("Third choice (optional)"), validate_choice=False)

    event_name = _text(_l("Event name"), "event_name")
    organization = _text(_l("Organization"), "organization")
    contact_name = _text(_l("Your name"), "contact_name", autocomplete="name")
    contact_email = StringField(
        _l("Email"), render_kw={"type": "email", "autocomplete": "email", "maxlength": 254}
    )
    contact_phone = _text(_l("Phone (optional)"), "contact_phone")

    starts_at = StringField(_l("Starts (local time)"), render_kw={"type": "datetime-local"})
    ends_at = StringField(_l("Ends (local time)"), render_kw={"type": "datetime-local"})
    timezone = SelectField(
        _l("Time zone of the event"),
        choices=_zonechoices(),
        validate_choice=False,
    )
    format = SelectField(
        _l("Format"),
        choices=choices(SPEAKER_FORMATS.items()),
        validate_choice=False,
    )
    virtual = BooleanField(_l("The event is virtual"))
    city = _text(_l("City"), "city")
    country = SelectField(_l("Country"), validate_choice=False)

    audience_size = StringField(
        _l("Expected audience size"), render_kw={"inputmode": "numeric", "pattern": "[0-9,]*"}
    )
    audience = _text(_l("Who is in the audience? (optional)"), "audience")
    budget_min = StringField(_l("Budget from (optional)"), render_kw={"inputmode": "numeric"})
    budget_max = StringField(_l("Budget up to (optional)"), render_kw={"inputmode": "numeric"})
    language = SelectField(_l("Language of the event"), default="en", validate_choice=False)
    currency = SelectField(
        _l("Currency"),
        choices=choices(((c, c) for c in CURRENCIES), blank=None),
        default="USD",
        validate_choice=False,
    )
    message = TextAreaField(
        _l("Anything else we should know? (optional)"),
        render_kw={"maxlength": TEXT_LIMITS["message"], "rows": 5},
    )

    # A one-time token: a double-clicked or re-sent form finds the request it already created.
    submission_token = HiddenField()
    # Honeypot: hidden from people (CSS, aria-hidden); bots fill it in.
    website = StringField(_l("Leave this field empty"), validators=[Optional()])

    def set_choices(self, speakers: Sequence[tuple[str, str]]) -> None:
        for name in SPEAKER_FIELDS:
            getattr(self, name).choices = choices(speakers, blank=_l("Choose a speaker…"))
        countries, languages = localized_names(current_locale())  # in the reader's language
        self.country.choices = choices(sorted(countries.items(), key=lambda c: c[1]))
        self.language.choices = choices(sorted(languages.items(), key=lambda c: c[1]), blank=None)

    def raw_request(self) -> dict[str, Any]:
        """The submitted values under the API's field names, for the shared validation."""
        data: dict[str, Any] = {
            "speakers": [
                getattr(self, name).data for name in SPEAKER_FIELDS if getattr(self, name).data
            ]
        }
        for name in FIELDS:
            if name in ("speakers", "virtual"):
                continue
            value = getattr(self, name).data
            if value not in (None, ""):
                data[name] = value
        data["virtual"] = bool(self.virtual.data)
        return data

    def show_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            target = "speaker_1" if name == "speakers" else name
            field = getattr(self, target, None)
            if field is not None:
                field.errors = [*field.errors, *messages]


RATING_WORDS = {
    1: _l("poor"),
    2: _l("fair"),
    3: _l("good"),
    4: _l("very good"),
    5: _l("excellent"),
}


def rating_choice(n: int) -> Any:
    """'4 (very good)' in the reader's language, when it is rendered."""
    return _l("%(rating)s (%(words)s)", rating=n, words=RATING_WORDS[n])


class RatingField(RadioField):
    """1 to 5; anything else, or nothing, gets one plain message (not WTForms' own)."""

    def pre_validate(self, form: Any) -> None:
        if self.data not in {str(n) for n in RATINGS}:
            raise StopValidation(_l("Choose a rating from 1 to 5."))


class FeedbackForm(FlaskForm):
    """The organizer's rating and comments after a completed booking (CSRF-protected)."""

    rating = RatingField(
        _l("How would you rate the booking?"),
        choices=[SelectChoice(str(n), rating_choice(n)) for n in RATINGS],
    )
    comments = TextAreaField(
        _l("Comments (optional)"),
        validators=[
            Optional(),
            Length(
                max=FEEDBACK_COMMENTS_MAX,
                message=_l(
                    "Keep your comments to %(limit)s characters.",
                    limit=format(FEEDBACK_COMMENTS_MAX, ","),
                ),
            ),
        ],
        render_kw={"maxlength": FEEDBACK_COMMENTS_MAX, "rows": 4},
    )
