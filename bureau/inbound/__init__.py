"""Inbound email: mail that comes back to the bureau, stored raw, read, matched to its request
and filed on it; what nothing claims waits in the staff Inbox."""
