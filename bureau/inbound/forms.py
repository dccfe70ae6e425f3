"""The staff Inbox's forms (CSRF-protected): attach a message to a request, or discard it;
and the request page's reply by email."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from bureau.inbound.addresses import REFERENCE
from bureau.inbound.notifications import REPLY_TEXT_MAX, ReplyTo


class AttachForm(FlaskForm):
    reference = StringField(
        _l("Request reference"),
        validators=[
            DataRequired(),
            Length(max=20),
            Regexp(
                rf"^\s*{REFERENCE}\s*$",
                flags=re.IGNORECASE,
                message=_l("A reference like BR-2027-00042."),
            ),
        ],
    )


class DiscardForm(FlaskForm):
    pass


class ReplyForm(FlaskForm):
    to = RadioField(
        lazy_pgettext("email", "To"),
        choices=[
            SelectChoice(ReplyTo.ORGANIZER.value, _l("the organizer")),
            SelectChoice(ReplyTo.SPEAKER.value, _l("the speaker")),
        ],
        default=ReplyTo.ORGANIZER.value,
        validators=[DataRequired()],
    )
    text = TextAreaField(_l("Reply"), validators=[DataRequired(), Length(max=REPLY_TEXT_MAX)])
