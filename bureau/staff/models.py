"""Staff members: who handles requests, what they know, and how much they can carry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bureau.columns import CreatedAt, LocaleCode, TimeZoneName
from bureau.db import Base


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class StaffMember(Base):
    __tablename__ = "staff_members"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("role IN ('admin', 'agent')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(10), default=Role.AGENT)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_on_leave: Mapped[bool] = mapped_column(default=False)
    # Open requests this person can carry at once; routing skips them when full.
    capacity: Mapped[int] = mapped_column(default=20)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    timezone: Mapped[TimeZoneName] = mapped_column(default="UTC")
    locale: Mapped[LocaleCode]  # the staff area's and their emails' language
    last_assigned_at: Mapped[datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Changing the password ends every other session (it is part of the session id).
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[CreatedAt]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    # Flask-Login's user interface
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<StaffMember {self.id} {self.email}>"


class SignInFailure(Base):
    """One wrong password for an address (known or not) from one client address.

    Counted per (email, client) so that guessing from one place never locks the account's
    owner out elsewhere; rows older than the lock-out window are deleted as new ones come.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_email_client", "email", "client", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
