"""Operations: process heartbeats, queue depth, the outbox's health, and the admins' page."""
