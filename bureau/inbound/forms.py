"""The staff Inbox's forms (CSRF-protected): attach a message to a request, or discard it."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Regexp

from bureau.inbound.addresses import REFERENCE


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
