"""Submitting booking requests: the one way a request enters the system."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    String,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    null,
    select,
)
from sqlalchemy import (
    column as bare_column,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from bureau.bookings.models import (
    BookingEvent,
    BookingRequest,
    ReferenceCounter,
    RequestedSpeaker,
)
from bureau.bookings.states import Status
from bureau.bookings.validation import ValidRequest
from bureau.bookings.workflow import Actor, note
from bureau.catalogue.models import Speaker
from bureau.counters import increment, next_in_year
from bureau.db import AnySession, json_value, utcnow
from bureau.i18n import current_locale
from bureau.outbox import job_insert, record_job, recorded

logger = logging.getLogger(__name__)
ROUTE_TASK = "bureau.bookings.route"


class IdempotencyConflict(Exception):
    """The same idempotency key came with a different request body."""


@dataclass(frozen=True)
class SubmitResult:
    booking: BookingRequest
    created: bool


@dataclass
class ActiveSpeakers:
    """``validate_request``'s ``active_speakers`` that keeps the ids it found (by slug), so
    that ``submit_request(speakers=…)`` needs no second query for them. Ids, not ``Speaker``
    rows: a submission needs no more, and loading whole rows cost more than the query."""

    session: AnySession
    rows: dict[str, int] = field(default_factory=dict)

    def __call__(self, slugs: Collection[str]) -> set[str]:
        # Core, not the ORM's execution: plain rows (as the statements of _insert_request).
        rows = self.session.connection().execute(_active_speakers(), {"slugs": list(slugs)})
        self.rows = dict(rows.all())
        return set(self.rows)


@cache
def _active_speakers() -> Any:
    """The active speakers' ids by slug, for the slugs bound as ``slugs`` (built once)."""
    slugs: Any = bindparam("slugs", expanding=True)
    return select(Speaker.slug, Speaker.id).where(Speaker.slug.in_(slugs), Speaker.is_active)


def fingerprint(raw: Mapping[str, Any]) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_reference(session: AnySession, year: int) -> str:
    """BR-<year>-<five digits>, counted per year with one atomic upsert (no gaps on retry)."""
    return reference_for(year, next_in_year(session, ReferenceCounter, year))


def reference_for(year: int, number: int) -> str:
    return f"BR-{year}-{number:05d}"


def reference_sql(year: Any, number: Any) -> Any:
    """reference_for in SQL (the PostgreSQL submit numbers its booking in its statement):
    at least five digits, all of them past 99,999."""
    digits = cast(number, Text)
    padded = func.lpad(digits, func.greatest(literal_column("5"), func.length(digits)), "0")
    return func.concat(literal_column("'BR-'"), year, literal_column("'-'"), padded)


def find_by_idempotency_key(session: AnySession, key: str) -> BookingRequest | None:
    return session.scalars(
        select(BookingRequest).where(BookingRequest.idempotency_key == key)
    ).one_or_none()


def submit_request(
    session: AnySession,
    request: ValidRequest,
    *,
    source: str,
    idempotency_key: str | None,
    request_fingerprint: str | None = None,
    now: datetime | None = None,
    speakers: Mapping[str, Speaker | int] | None = None,
) -> SubmitResult:
    """Store a validated request with its speakers and first timeline entry, and commit.

    A repeated ``idempotency_key`` returns the request stored the first time (even when two
    submissions race: the unique index decides) and raises ``IdempotencyConflict`` when the
    body differs. ``speakers``: the requested speakers' rows or ids when the caller has them
    already (``ActiveSpeakers.rows``); otherwise they are loaded.
    """
    if idempotency_key is not None:
        existing = _replay(session, idempotency_key, request_fingerprint)
        if existing is not None:
            return SubmitResult(existing, created=False)

    # PostgreSQL: two statements instead of five (_insert_request).
    postgresql = session.get_bind().dialect.name == "postgresql"
    store = _insert_request if postgresql else _store_and_record
    try:
        booking = store(
            session,
            request,
            source=source,
            now=now,
            speakers=speakers,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
        )
    except IntegrityError:
        session.rollback()
        if idempotency_key is None:
            raise
        existing = _replay(session, idempotency_key, request_fingerprint)
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    session.commit()
    logger.info("booking %s submitted via %s", booking.reference, source)
    return SubmitResult(booking, created=True)


def store_request(
    session: AnySession,
    request: ValidRequest,
    *,
    source: str,
    now: datetime | None = None,
    speakers: Mapping[str, Speaker | int] | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> BookingRequest:
    """Add the request and its first timeline entry ("submitted", at ``now``) to the
    session, unflushed; submit_request's part the demo history shares."""
    now = now or utcnow()
    speakers = _speaker_rows(session, request, speakers)
    booking = _new_booking(
        request,
        reference=next_reference(session, now.year),
        source=source,
        now=now,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
    )
    booking.requested = [
        RequestedSpeaker(preference=i, speaker_id=speaker)
        if isinstance(speaker := speakers[slug], int)
        else RequestedSpeaker(preference=i, speaker=speaker)
        for i, slug in enumerate(request.speakers, start=1)
    ]
    session.add(booking)
    _submitted_entry(session, booking, request, now)
    return booking


def _store_and_record(session: AnySession, request: ValidRequest, **fields: Any) -> BookingRequest:
    booking = store_request(session, request, **fields)
    session.flush()
    # Routing (and the emails it implies) happens in the worker, after this commits.
    record_job(session, ROUTE_TASK, "route", booking_id=booking.id)
    return booking


def _insert_request(session: AnySession, request: ValidRequest, **fields: Any) -> BookingRequest:
    """store_request, its flush and the route job's record_job in two statements instead
    of five (PostgreSQL): the booking's id in one; in the other (CTEs: the rows reference
    each other, checked at the statement's end) the year's next reference number, the
    booking, its requested speakers, its first timeline entry and the job. Each row goes as
    one JSON parameter (``_column_values``, ``_json``), so the statement's text is the same
    for any number of speakers and has a handful of parameters: SQLAlchemy and psycopg
    (which converts and caches only statements of at most 50 parameters and 4 KB) build it
    once, PostgreSQL prepares it. The same rows, in the same transaction; the booking is
    returned persistent, as a flush leaves it."""
    now = fields.pop("now") or utcnow()
    speakers = _speaker_rows(session, request, fields.pop("speakers"))
    # On the session's connection (its transaction): Core statements, plain rows, without
    # the ORM's execution steps, which cost more Python than the statements themselves.
    connection = session.connection()
    booking_id = connection.execute(_next_id_statement()).scalar_one()
    booking = _new_booking(request, reference=None, now=now, **fields)
    booking.id = booking_id
    entry = _submitted_entry(session, booking, request, now, attached=False)
    entry.booking_id = booking_id
    booking_row = _column_values(booking)
    del booking_row["reference"]  # the statement's, from the year's counter
    rows: dict[str, Any] = {
        "b": booking_row,
        "e": _column_values(entry),
        "s": [
            _column_values(
                RequestedSpeaker(
                    booking_id=booking_id,
                    speaker_id=_speaker_id(speakers[slug]),
                    preference=preference,
                )
            )
            for preference, slug in enumerate(request.speakers, start=1)
        ],
    }
    # Routing (and the emails it implies) happens in the worker, after this commits.
    job = job_insert(session, ROUTE_TASK, "route", booking_id)
    shape = (tuple(rows["b"]), tuple(rows["e"]), tuple(rows["s"][0]))
    parameters = {name: _json(row) for name, row in rows.items()} | {"year": now.year}
    if job is None:  # quiet, or inline in a worker: record_job's own way
        booking.reference, _ = connection.execute(_rows_statement(*shape, None), parameters).one()
        record_job(session, ROUTE_TASK, "route", booking_id=booking_id)
    else:
        job_statement, job_parameters = job
        booking.reference, job_id = connection.execute(
            _rows_statement(*shape, job_statement), parameters | job_parameters
        ).one()
        recorded(session, job_id, ROUTE_TASK)
    booking.version = rows["b"]["version"]  # as a flush leaves it (the optimistic lock's)
    make_transient_to_detached(booking)
    session.add(booking)
    return booking


@cache
def _rows_statement(
    booking_columns: tuple[str, ...],
    event_columns: tuple[str, ...],
    speaker_columns: tuple[str, ...],
    job: Any,
) -> Any:
    """_insert_request's second statement, built once per shape (building it costs more
    than running it): the reference counter's upsert, the booking (numbered from it), its
    timeline entry and requested speakers as CTEs, each row read from one JSON parameter;
    it returns the booking's reference and the job's id (None: no job, or it existed)."""
    counter = (
        increment(ReferenceCounter, "postgresql").returning(ReferenceCounter.year).cte("counter")
    )
    reference = select(reference_sql(counter.c.year, counter.c.value)).scalar_subquery()
    booking = (
        _json_insert(BookingRequest.__table__, "b", booking_columns, reference=reference)
        .returning(BookingRequest.reference)
        .cte("booking")
    )
    others = [
        _json_insert(BookingEvent.__table__, "e", event_columns).cte("entry"),
        _json_insert(RequestedSpeaker.__table__, "s", speaker_columns, many=True).cte("requested"),
    ]
    job_id = null() if job is None else select(job.cte("job").c.id).scalar_subquery()
    # The job's INSERT is compiled last, so that SQLAlchemy computes its Python-side
    # defaults (run_after, created_at): it does so for the last DML of a statement only.
    reference_of = select(booking.c.reference).scalar_subquery()
    return select(reference_of, job_id).add_cte(counter, *others)


def _json_insert(
    table: Any, parameter: str, columns: tuple[str, ...], many: bool = False, **computed: Any
) -> Any:
    """INSERT INTO ``table`` (``columns``, ``computed``'s) the row (``many``: the rows, a
    JSON array) in the JSON parameter ``parameter``, each value read as its column's type
    (jsonb_populate_record)."""
    function = func.jsonb_populate_recordset if many else func.jsonb_populate_record
    record = function(
        literal_column(f"NULL::{table.name}"), cast(bindparam(parameter, type_=String), JSONB)
    ).table_valued(*columns, name="r")
    # Bare names (SELECT id, … FROM … AS r), not r.id AS id: the statement stays within the
    # length psycopg caches its conversion for (test_submit_statements).
    values = [bare_column(name) for name in columns] + list(computed.values())
    rows = select(*values).select_from(record)
    # The defaults are the row's already (_column_values): none added here.
    return insert(table).from_select([*columns, *computed], rows, include_defaults=False)


@cache
def _next_id_statement() -> Any:
    """The next booking id."""
    return select(func.nextval(func.pg_get_serial_sequence(BookingRequest.__tablename__, "id")))


def _column_values(row: Any) -> dict[str, Any]:
    """The column values of a new ORM object, by column name, with the Python-side defaults
    of the columns left unset (or None, as the ORM leaves a version counter) filled in as a
    flush would; columns left out get their server defaults. The one place that knows
    which columns the fast path inserts: every mapped column of the row's table."""
    values = vars(row)
    columns: dict[str, Any] = {}
    model: Any = type(row)
    for key, column in _columns(model):
        value = values.get(key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg if default.is_scalar else default.arg(None)
        if value is not None or key in values:
            if isinstance(column.type, TypeDecorator):  # as SQLAlchemy binds it (UTCDateTime)
                value = column.type.process_bind_param(value, _DIALECT)
            columns[column.name] = value
    return columns


_DIALECT: Any = postgresql.dialect()  # type: ignore[no-untyped-call]


def _json(row: Any) -> str:
    """A row (or rows) as the JSON jsonb_populate_record reads."""
    return json.dumps(row, default=json_value, ensure_ascii=False, separators=(",", ":"))


@cache
def _columns(model: Any) -> list[tuple[str, Any]]:
    """(attribute, column) of each column of ``model``."""
    mapper: Any = sa_inspect(model)
    return [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]


def _speaker_rows(
    session: AnySession, request: ValidRequest, speakers: Mapping[str, Speaker | int] | None
) -> Mapping[str, Speaker | int]:
    if speakers is None or any(slug not in speakers for slug in request.speakers):
        speakers = {
            s.slug: s
            for s in session.scalars(select(Speaker).where(Speaker.slug.in_(request.speakers)))
        }
    return speakers


def _speaker_id(speaker: Speaker | int) -> int:
    return speaker if isinstance(speaker, int) else speaker.id


def _new_booking(
    request: ValidRequest,
    *,
    reference: str | None,
    source: str,
    now: datetime,
    idempotency_key: str | None,
    request_fingerprint: str | None,
) -> BookingRequest:
    return BookingRequest(
        reference=reference,
        status=Status.NEW,
        tracking_token=secrets.token_urlsafe(32),
        idempotency_key=idempotency_key,
        idempotency_fingerprint=request_fingerprint,
        source=source,
        event_name=request.event_name,
        organization=request.organization,
        contact_name=request.contact_name,
        contact_email=request.contact_email,
        contact_phone=request.contact_phone,
        format=request.format,
        is_virtual=request.is_virtual,
        city=request.city,
        country=request.country,
        timezone=request.timezone,
        starts_local=request.starts_local,
        ends_local=request.ends_local,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        audience_size=request.audience_size,
        audience=request.audience,
        budget_min=request.budget_min,
        budget_max=request.budget_max,
        currency=request.currency,
        message=request.message,
        language=request.language,
        # The language it was filed in (the form's or the API caller's): its emails speak it.
        locale=current_locale(),
        created_at=now,
        updated_at=now,
    )


def _submitted_entry(
    session: AnySession,
    booking: BookingRequest,
    request: ValidRequest,
    now: datetime,
    attached: bool = True,
) -> BookingEvent:
    return note(
        session,
        booking,
        attached=attached,
        actor=Actor("organizer", request.contact_name),
        action="submitted",
        to_status=Status.NEW,
        public_message=_l("We received your request."),
        details={"source": booking.source},
        now=now,
    )


def _replay(
    session: AnySession, key: str, request_fingerprint: str | None
) -> BookingRequest | None:
    existing = find_by_idempotency_key(session, key)
    if existing is None:
        return None
    if request_fingerprint is not None and existing.idempotency_fingerprint != request_fingerprint:
        raise IdempotencyConflict(key)
    return existing


def find_by_token(session: AnySession, token: str) -> BookingRequest | None:
    if not token or len(token) > 64:
        return None
    return session.scalars(
        select(BookingRequest).where(BookingRequest.tracking_token == token)
    ).one_or_none()
