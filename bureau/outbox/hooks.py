"""What features register with the outbox: the handler of each task, and what surrounds a
worker's task (the mail feature keeps one SMTP connection open for all its emails), so the
outbox never imports a feature."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from bureau.outbox.models import Handler

HANDLERS: dict[str, Handler] = {}
AROUND_TASKS: list[Callable[[], AbstractContextManager[object]]] = []
C = TypeVar("C", bound=Callable[[], AbstractContextManager[object]])


def handles(task: str) -> Callable[[Handler], Handler]:
    """Register the handler of a task, so a worker can run such jobs inline."""

    def register(handler: Handler) -> Handler:
        HANDLERS[task] = handler
        return handler

    return register


def around_tasks(context: C) -> C:
    """Register a context every worker task runs in, with its follow-ups (execute())."""
    if context not in AROUND_TASKS:
        AROUND_TASKS.append(context)
    return context
