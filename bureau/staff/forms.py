"""Staff forms. Each action form carries the booking version the staff member saw."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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

from bureau.bookings.forms import choices
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
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password (at least 12 characters)", validators=[DataRequired()])
    repeat = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new", "The two differ.")]
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
    timezone = SelectField("Your time zone", validate_choice=False)


class VersionedForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])

    @property
    def expected_version(self) -> int | None:
        return whole_number(self.version.data or "", MAX_INT)


class NoteForm(VersionedForm):
    text = TextAreaField("Internal note", validators=[DataRequired(), Length(max=4000)])


class ReassignForm(VersionedForm):
    staff_id = SelectField("Assign to", coerce=str, validate_choice=False)


class CandidateForm(Form):
    # A text field with the catalogue's names as its datalist, not a select: four selects of
    # a thousand speakers made most of the request page. The view resolves the typed name
    # (bureau/staff/picker.py).
    speaker = StringField(
        "Speaker (type a name)",
        validators=[Optional(), Length(max=200)],
        render_kw={"list": "speaker-list", "autocomplete": "off"},
    )
    fee_quote = IntegerField("Fee quote", validators=[Optional(), NumberRange(0, 10_000_000)])
    home_city = StringField(
        "Home city (blank: the catalogue's)", validators=[Optional(), Length(max=120)]
    )
    note = StringField("Note", validators=[Optional(), Length(max=500)])


class ShortlistForm(VersionedForm):
    candidates = FieldList(FormField(CandidateForm), min_entries=4, max_entries=4)
    # Shown once the organizer has a shortlist: sending another replaces it.
    replace = BooleanField("Replace the shortlist the organizer has")


class AvailabilityForm(VersionedForm):
    hold_days = IntegerField(
        "Hold the date for (days)", default=7, validators=[InputRequired(), NumberRange(1, 30)]
    )


class ContractForm(VersionedForm):
    fee = IntegerField("Fee", validators=[InputRequired(), NumberRange(0, 10_000_000)])
    currency = SelectField(
        "Currency", choices=choices(((c, c) for c in CURRENCIES), blank=None), default="USD"
    )
    commission_pct = FiniteDecimalField(
        "Commission %", places=2, validators=[InputRequired(), NumberRange(0, 100)]
    )
    deposit_amount = IntegerField(
        "Deposit", validators=[InputRequired(), NumberRange(0, 10_000_000)]
    )
    deposit_due = DateField("Deposit due", validators=[InputRequired()])
    travel_terms = TextAreaField("Travel terms", validators=[Optional(), Length(max=2000)])


class ConfirmForm(VersionedForm):
    # An admin's reason to confirm before the contract is accepted and the deposit paid.
    override_reason = TextAreaField(
        "Why confirm without them", validators=[Optional(), Length(max=1000)]
    )


class CompleteForm(VersionedForm):
    # Staff's own note on how it went (the organizer's rating is OrganizerFeedback).
    feedback = TextAreaField("Completion note", validators=[Optional(), Length(max=4000)])
    # Only shown to an admin, before the event has ended; kept on the timeline.
    early_reason = StringField(
        "Why complete it before the event ends", validators=[Optional(), Length(max=1000)]
    )


class PayoutPaidForm(VersionedForm):
    # The day the transfer to the speaker was made, and the bank's or the bureau's reference.
    # Ids of their own: the request page has other forms' "reference" fields.
    paid_on = DateField("Paid on", id="payout-paid-on", validators=[InputRequired()])
    reference = StringField(
        "Reference", id="payout-reference", validators=[Optional(), Length(max=200)]
    )


CLOSE_AS = {
    "declined": "Declined by the bureau",
    "withdrawn": "Withdrawn by the organizer",
    "cancelled": "Cancelled",
}


class CloseForm(VersionedForm):
    # The choices are the closings the request's state allows (the view sets them); any
    # other value is answered by actions.close with a message, not by the field.
    to = SelectField(
        "Close as", choices=choices(CLOSE_AS.items(), blank=None), validate_choice=False
    )
    reason = StringField("Reason", validators=[DataRequired(), Length(max=1000)])


class CorrectStateForm(VersionedForm):
    status = SelectField("Set status to", validate_choice=False)
    reason = StringField("Why", validators=[DataRequired(), Length(max=1000)])
    password = PasswordField(
        "Your password", validators=[DataRequired("Your password, again."), Length(max=1024)]
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
    reason = StringField("Why void it", validators=[Optional(), Length(max=1000)])


class AgreementTemplateForm(FlaskForm):
    """An admin's agreement template: Jinja with the booking's fields (docs/topics/contracts.md)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    body = TextAreaField("Template", validators=[DataRequired(), Length(max=200_000)])
    activate = BooleanField("Use it for new contracts", default=True)
