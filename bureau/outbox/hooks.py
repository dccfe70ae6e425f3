"""What features register with the outbox: the handler of each task, what prepares a job in
the transaction that records it (the mail feature composes its email there), and what
surrounds a worker's task (the mail feature keeps one SMTP connection open for all its
emails), so the outbox never imports a feature."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from bureau.db import AnySession
from bureau.outbox.models import Handler, Job, Preparer

HANDLERS: dict[str, Handler] = {}
# Tasks whose jobs a worker may run several at once, in one transaction, under a backlog.
TOGETHER: dict[str, int] = {}
# What loads, for such a batch, what its handlers read: a few queries for all of them.
Preload = Callable[[AnySession, list[Job]], None]
PRELOADS: dict[str, Preload] = {}
PREPARERS: dict[str, Preparer] = {}
AROUND_TASKS: list[Callable[[], AbstractContextManager[object]]] = []
C = TypeVar("C", bound=Callable[[], AbstractContextManager[object]])


def handles(
    task: str, *, together: int = 1, preload: Preload | None = None
) -> Callable[[Handler], Handler]:
    """Register the handler of a task, so a worker can run such jobs inline. ``together``:
    under a backlog, a task may run up to that many waiting jobs of its task in one
    transaction (run.run_job); such a handler carries out nothing that cannot be undone
    (no record_effect), for a failure of one rolls them all back. ``preload``: what loads
    into the session, before such a batch runs, the rows its handlers read, so that each
    finds them there instead of asking for its own."""

    def register(handler: Handler) -> Handler:
        HANDLERS[task] = handler
        if together > 1:
            TOGETHER[task] = together
            if preload is not None:
                PRELOADS[task] = preload
        return handler

    return register


def prepares(task: str) -> Callable[[Preparer], Preparer]:
    """Register what prepares a job of a task in the transaction of the job that records it,
    when a worker runs it inline (run.run_job): the email of a routing is composed in the
    routing's own transaction, and its handler only delivers it (run.run_prepared)."""

    def register(preparer: Preparer) -> Preparer:
        PREPARERS[task] = preparer
        return preparer

    return register


def around_tasks(context: C) -> C:
    """Register a context every worker task runs in, with its follow-ups (execute())."""
    if context not in AROUND_TASKS:
        AROUND_TASKS.append(context)
    return context
