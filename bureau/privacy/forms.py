"""The privacy pages' forms: export and erase carry the address; erasing asks for it and
the admin's password again."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class ExportForm(FlaskForm):
    email = HiddenField(validators=[DataRequired(), Length(max=254)])


class EraseForm(FlaskForm):
    email = HiddenField(validators=[DataRequired(), Length(max=254)])
    confirm = StringField(
        _l("Type the address to confirm"), validators=[DataRequired(), Length(max=254)]
    )
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Your password, again.")), Length(max=1024)],
    )
