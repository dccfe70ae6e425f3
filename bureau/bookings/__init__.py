"""Booking requests: the public form and API, validation, submission and status."""
