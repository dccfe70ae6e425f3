"""Per-client rate limits on the endpoints that create requests.

Counted in Redis when BUREAU_REDIS_URL is set (an endpoint's limits and the headers' window in
one round trip: bureau/limitstore_redis.py), else in the application's database
(bureau/limitstore.py): either way every web process shares the counts.

Each app gets its own Limiter: Flask-Limiter keeps its storage on the Limiter object, so a
module-level one would be shared (and re-pointed) by every app in a process.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

import bureau.limitstore  # noqa: F401 - registers the bureau+database:// storage
from bureau.limitstore_redis import GroupedRedisStorage  # registers bureau+redis://

# endpoint -> the methods that count (None: all)
LIMITED_ENDPOINTS: dict[str, list[str] | None] = {
    "bookings.request_form": ["POST"],
    "bookings_api.create_request": None,
}
# Sign-in attempts per client address, on top of the per-account lock-out.
LOGIN_LIMIT = "20 per 10 minutes"


def init_rate_limits(app: Flask) -> Limiter:
    limiter = Limiter(key_func=get_remote_address, app=app)
    limit = app.config["BUREAU_SETTINGS"].submit_rate_limit
    for endpoint, methods in LIMITED_ENDPOINTS.items():
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(limit, methods=methods)(view)  # type: ignore[assignment]
        if limiter.enabled and isinstance(limiter.storage, GroupedRedisStorage):  # one round trip
            limiter.storage.group(endpoint, parse_many(limit))
    view = app.view_functions["staff.login"]
    app.view_functions["staff.login"] = limiter.limit(LOGIN_LIMIT, methods=["POST"])(view)  # type: ignore[assignment]
    # Flask-Limiter's route limits hold only a weak reference to their Limiter.
    app.extensions["bureau.limiter"] = limiter
    return limiter
