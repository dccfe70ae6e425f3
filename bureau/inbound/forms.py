"""The staff Inbox's forms (CSRF-protected): attach a message to a request, or discard it;
and the request page's reply by email."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from bureau.inbound.addresses import REFERENCE
from bureau.inbound.notifications import REPLY_TEXT_MAX, ReplyTo


class AttachForm(FlaskForm):
    reference = StringField(
        "Request reference",
        validators=[
            DataRequired(),
            Length(max=20),
            Regexp(
                rf"^\s*{REFERENCE}\s*$",
                flags=re.IGNORECASE,
                message="A reference like BR-2027-00042.",
            ),
        ],
    )


class DiscardForm(FlaskForm):
    pass


class ReplyForm(FlaskForm):
    to = RadioField(
        "To",
        choices=[
            SelectChoice(ReplyTo.ORGANIZER.value, "the organizer"),
            SelectChoice(ReplyTo.SPEAKER.value, "the speaker"),
        ],
        default=ReplyTo.ORGANIZER.value,
        validators=[DataRequired()],
    )
    text = TextAreaField("Reply", validators=[DataRequired(), Length(max=REPLY_TEXT_MAX)])
