"""Forms for a speaker's own busy time: the calendar connection and blackout periods."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, SelectField, StringField, TimeField, URLField
from wtforms.validators import DataRequired, Length, Optional

from bureau.bookings.forms import choices


class CalendarForm(FlaskForm):
    kind = SelectField(
        _l("Kind"),
        choices=choices(
            [
                ("ics", _l("ICS subscription (http, https, webcal)")),
                ("caldav", _l("CalDAV calendar")),
            ],
            blank=None,
        ),
    )
    url = URLField(_l("Calendar address"), validators=[DataRequired(), Length(max=1000)])
    username = StringField(_l("User name (if the server asks)"), validators=[Length(max=200)])
    # Never filled in from the stored one: a password is not shown back.
    password = PasswordField(_l("Password"), validators=[Length(max=500)])


class BlackoutForm(FlaskForm):
    first_day = DateField(_l("First day"), validators=[DataRequired()])
    last_day = DateField(_l("Last day (empty: the first)"), validators=[Optional()])
    start_time = TimeField(_l("From (empty: all day)"), validators=[Optional()])
    end_time = TimeField(_l("Until"), validators=[Optional()])
    note = StringField(_l("Private note (optional)"), validators=[Length(max=500)])


class RemoveForm(FlaskForm):
    """A button's POST: only the CSRF token (the blackout's id comes in ``remove``)."""
