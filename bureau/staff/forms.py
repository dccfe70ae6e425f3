"""Staff forms. Each action form carries the booking version the staff member saw."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from bureau import widgets
from bureau.bookings.forms import choices
from bureau.i18n import LOCALES
from bureau.params import MAX_INT, whole_number
from bureau.reference import CURRENCIES, timezone_names


class FiniteDecimalField(DecimalField):
    """A DecimalField that refuses NaN and Infinity as not a number: NumberRange cannot
    compare "sNaN" (a ValueError, so a 500)."""

    data: Any  # untyped, as every WTForms field's

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if isinstance(self.data, Decimal) and not self.data.is_finite():
            self.data = None
            raise ValueError(self.gettext("Not a valid decimal value."))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password (at least 12 characters)"), validators=[DataRequired()])
    repeat = PasswordField(
        _l("New password again"), validators=[DataRequired(), EqualTo("new", _l("The two differ."))]
    )


def zone_choices() -> list[Any]:
    """Every IANA zone with a place, grouped by region, and UTC first."""
    options = [SelectChoice("UTC", "UTC")]
    for name in sorted(z for z in timezone_names() if "/" in z and not z.startswith("Etc/")):
        region, _, place = name.partition("/")
        options.append(SelectChoice(name, place.replace("_", " "), optgroup=region))
    return options


class TimezoneForm(FlaskForm):
    # Checked against the reference list in the view: a wrong name is said, not a 500.
    timezone = SelectField(_l("Your time zone"), validate_choice=False)


class LocaleForm(FlaskForm):
    # Checked against bureau.i18n.LOCALES in the view: an unknown code is said, not a 500.
    locale = SelectField(
        _l("Your language"),
        choices=[SelectChoice(code, name) for code, name in LOCALES.items()],
        validate_choice=False,
    )


class VersionedForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])

    @property
    def expected_version(self) -> int | None:
        return whole_number(self.version.data or "", MAX_INT)


class NoteForm(VersionedForm):
    text = TextAreaField(_l("Internal note"), validators=[DataRequired(), Length(max=4000)])


class ReassignForm(VersionedForm):
    staff_id = SelectField(_l("Assign to"), coerce=str, validate_choice=False)


class CandidateForm(Form):
    # Four rows on every request page: widgets with the quicker attribute writer. The speaker
    # is a text field with the catalogue's names as its datalist, not a select: four selects
    # of a thousand speakers made most of the request page. The view resolves the typed name
    # (bureau/staff/picker.py).
    speaker = StringField(
        _l("Speaker (type a name)"),
        validators=[Optional(), Length(max=200)],
        render_kw={"list": "speaker-list", "autocomplete": "off"},
        widget=widgets.TextInput(),
    )
    fee_quote = IntegerField(
        _l("Fee quote"),
        validators=[Optional(), NumberRange(0, 10_000_000)],
        widget=widgets.NumberInput(),
    )
    home_city = StringField(
        _l("Home city (blank: the catalogue's)"),
        validators=[Optional(), Length(max=120)],
        widget=widgets.TextInput(),
    )
    note = StringField(
        _l("Note"), validators=[Optional(), Length(max=500)], widget=widgets.TextInput()
    )


class ShortlistForm(VersionedForm):
    candidates = FieldList(FormField(CandidateForm), min_entries=4, max_entries=4)
    # Shown once the organizer has a shortlist: sending another replaces it.
    replace = BooleanField(_l("Replace the shortlist the organizer has"))


class AvailabilityForm(VersionedForm):
    hold_days = IntegerField(
        _l("Hold the date for (days)"), default=7, validators=[InputRequired(), NumberRange(1, 30)]
    )


class ContractForm(VersionedForm):
    fee = IntegerField(_l("Fee"), validators=[InputRequired(), NumberRange(0, 10_000_000)])
    currency = SelectField(
        _l("Currency"), choices=choices(((c, c) for c in CURRENCIES), blank=None), default="USD"
    )
    commission_pct = FiniteDecimalField(
        _l("Commission %"), places=2, validators=[InputRequired(), NumberRange(0, 100)]
    )
    deposit_amount = IntegerField(
        _l("Deposit"), validators=[InputRequired(), NumberRange(0, 10_000_000)]
    )
    deposit_due = DateField(_l("Deposit due"), validators=[InputRequired()])
    travel_terms = TextAreaField(_l("Travel terms"), validators=[Optional(), Length(max=2000)])


class ConfirmForm(VersionedForm):
    # An admin's reason to confirm before the contract is accepted and the deposit paid.
    override_reason = TextAreaField(
        _l("Why confirm without them"), validators=[Optional(), Length(max=1000)]
    )


class CompleteForm(VersionedForm):
    # Staff's own note on how it went (the organizer's rating is OrganizerFeedback).
    feedback = TextAreaField(_l("Completion note"), validators=[Optional(), Length(max=4000)])
    # Only shown to an admin, before the event has ended; kept on the timeline.
    early_reason = StringField(
        _l("Why complete it before the event ends"), validators=[Optional(), Length(max=1000)]
    )


class PayoutPaidForm(VersionedForm):
    # The day the transfer to the speaker was made, and the bank's or the bureau's reference.
    # Ids of their own: the request page has other forms' "reference" fields.
    paid_on = DateField(_l("Paid on"), id="payout-paid-on", validators=[InputRequired()])
    reference = StringField(
        _l("Reference"), id="payout-reference", validators=[Optional(), Length(max=200)]
    )


CLOSE_AS = {
    "declined": _l("Declined by the bureau"),
    "withdrawn": _l("Withdrawn by the organizer"),
    "cancelled": _l("Cancelled"),
}


class CloseForm(VersionedForm):
    # The choices are the closings the request's state allows (the view sets them); any
    # other value is answered by actions.close with a message, not by the field.
    to = SelectField(
        _l("Close as"), choices=choices(CLOSE_AS.items(), blank=None), validate_choice=False
    )
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])


class CorrectStateForm(VersionedForm):
    status = SelectField(_l("Set status to"), validate_choice=False)
    reason = StringField(_l("Why"), validators=[DataRequired(), Length(max=1000)])
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Your password, again.")), Length(max=1024)],
    )


class ResendForm(FlaskForm):
    pass


class SendContractForm(VersionedForm):
    """Send the agreement the current terms make (a new version if they changed)."""


class ContractVersionForm(VersionedForm):
    """A step on one version of the contract, named by its number."""

    number = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=10_000)])


class VoidContractForm(ContractVersionForm):
    # Checked by the service, which says what is missing.
    reason = StringField(_l("Why void it"), validators=[Optional(), Length(max=1000)])


class AgreementTemplateForm(FlaskForm):
    """An admin's agreement template: Jinja with the booking's fields (docs/topics/contracts.md)."""

    name = StringField(
        lazy_pgettext("template", "Name"), validators=[DataRequired(), Length(max=120)]
    )
    body = TextAreaField(_l("Template"), validators=[DataRequired(), Length(max=200_000)])
    activate = BooleanField(_l("Use it for new contracts"), default=True)
