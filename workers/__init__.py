"""Celery worker processes; they import bureau, never the other way round."""
