"""Speakers' calendars: holds on dates (and, later, engagements, invites and feeds)."""
