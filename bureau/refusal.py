"""How every entry point refuses a bad setting: one line on standard error, exit status 2.

`bureau …`, gunicorn's config file and the Celery app all end here, so an operator sees the
same line (naming the variable) whichever process met the setting first.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from bureau.config import ConfigError

EXIT_CONFIG = 2
# Plain `gunicorn 'bureau:create_app()'` (without -c python:bureau.gunicorn_conf) builds the
# app only in its workers. A worker exiting 2 is restarted in a loop; 4 is gunicorn's "App
# failed to load", on which the master stops at once with that exit status.
GUNICORN_APP_LOAD_ERROR = 4


def refuse(error: ConfigError | str, status: int = EXIT_CONFIG) -> NoReturn:
    print(f"bureau: configuration error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def in_gunicorn() -> bool:
    """True in gunicorn's processes: its arbiter sets SERVER_SOFTWARE, which workers inherit."""
    return os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")
