"""Inbound email: mail that comes back to the bureau, read and filed on its request."""
