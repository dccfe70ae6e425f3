"""Organizers' personal data: export, erasure by an admin, and the retention period."""
