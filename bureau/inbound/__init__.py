"""Inbound email: replies stored raw, matched to their request, and the staff Inbox."""
