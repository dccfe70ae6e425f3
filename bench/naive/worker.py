"""The naive service's Celery app: ``celery -A bench.naive.worker worker``."""

from bench.naive.app import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
