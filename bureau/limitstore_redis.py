"""Rate limits in Redis, every limit of an endpoint in one round trip.

Flask-Limiter takes each limit of a view in turn (``hit``: one script call each) and then
reads the window of the limit it reports in the X-RateLimit-* headers (another call): a
submission under "10 per minute;100 per day" cost three Redis round trips. This storage,
registered with the ``limits`` library as ``bureau+redis://`` (``bureau+rediss://``,
``bureau+unix://``), answers all of them with one script: for the endpoints given to
``group`` (bureau/ratelimit.py's LIMITED_ENDPOINTS), the first ``acquire_entry`` of a request
takes an entry in every limit of that endpoint and client at once, and returns each limit's
window; Flask-Limiter's later calls for the same request read those answers.

All or nothing: when any of the limits is full, no entry is taken in any (Flask-Limiter alone
would have counted the refused request in the limits it checked before the full one). The
lists, keys and moving-window semantics are the ``limits`` library's own, so a process using
the plain ``redis://`` storage counts in the same lists. Anything else (other endpoints, the
sign-in limit, calls outside a request) goes through the inherited one-limit-a-call methods.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import has_request_context, request
from limits import RateLimitItem
from limits.storage import RedisStorage

SCHEME = "bureau+redis"
_BATCH = "bureau.limit_batch"  # in the request's WSGI environ

# KEYS: one list per limit. ARGV: now, then each limit's amount and expiry (seconds).
# Returns, per key: 0 if this limit is full, else 1 (an entry is taken in every list only when
# none is full), then the start of its window and the entries in it, after taking them.
ACQUIRE_ALL = """
local now = tonumber(ARGV[1])
local full = {}
local any_full = false
for i, key in ipairs(KEYS) do
    local amount = tonumber(ARGV[2 * i])
    local expiry = tonumber(ARGV[2 * i + 1])
    local entry = redis.call('lindex', key, amount - 1)
    if amount < 1 or (entry and tonumber(entry) >= now - expiry) then
        full[i] = true
        any_full = true
    end
end
local answer = {}
for i, key in ipairs(KEYS) do
    local amount = tonumber(ARGV[2 * i])
    local expiry = tonumber(ARGV[2 * i + 1])
    if not any_full then
        redis.call('lpush', key, now)
        redis.call('ltrim', key, 0, amount - 1)
        redis.call('expire', key, expiry)
    end
    -- the newest entries come first: find the last one still in the window
    local low, high, last = 0, redis.call('llen', key) - 1, -1
    while low <= high do
        local mid = math.floor((low + high) / 2)
        if tonumber(redis.call('lindex', key, mid)) >= now - expiry then
            last = mid
            low = mid + 1
        else
            high = mid - 1
        end
    end
    local start = tostring(now)
    if last >= 0 then
        start = redis.call('lindex', key, last)
    end
    answer[#answer + 1] = full[i] and 0 or 1
    answer[#answer + 1] = start
    answer[#answer + 1] = last + 1
end
return answer
"""


@dataclass
class _Batch:
    """One request's answers: key -> (entry taken, window start, entries in the window);
    ``taken``: the keys whose answer Flask-Limiter has had (a second hit takes anew)."""

    answers: dict[str, tuple[bool, float, int]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)


def _suffix(item: RateLimitItem) -> str:
    """The end of ``item.key_for(...)``: amount, multiples, granularity."""
    return f"{item.amount}/{item.multiples}/{item.GRANULARITY.name}"


class GroupedRedisStorage(RedisStorage):
    """``limits``' Redis storage, taking every limit of a grouped endpoint in one call."""

    STORAGE_SCHEME = [SCHEME, "bureau+rediss", "bureau+unix"]

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri.removeprefix("bureau+"), **options)
        # endpoint -> its limits: (key suffix, amount, expiry in seconds)
        self.groups: dict[str, list[tuple[str, int, int]]] = {}
        self.lua_acquire_all = self.get_connection().register_script(ACQUIRE_ALL.encode())

    def group(self, endpoint: str, items: Iterable[RateLimitItem]) -> None:
        """Take ``items`` (the endpoint's limits) together on ``endpoint``."""
        self.groups[endpoint] = [(_suffix(i), i.amount, i.get_expiry()) for i in items]

    def _batch(self) -> _Batch | None:
        """This request's answers (None outside a request)."""
        if not has_request_context():
            return None
        batch: _Batch = request.environ.setdefault(_BATCH, _Batch())
        return batch

    def _members(self, key: str) -> list[tuple[str, int, int]] | None:
        """The keys, amounts and expiries of the limits ``key``'s is grouped with."""
        # LIMITER/<client>/<endpoint>/<amount>/<multiples>/<granularity>
        base, _, suffix = key.rpartition("/")
        base, _, multiples = base.rpartition("/")
        base, _, amount = base.rpartition("/")
        limits = self.groups.get(base.rpartition("/")[2])
        if limits is None or f"{amount}/{multiples}/{suffix}" not in {s for s, _, _ in limits}:
            return None
        return [(f"{base}/{s}", amount_, expiry) for s, amount_, expiry in limits]

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        batch = self._batch()
        members = self._members(key) if batch is not None and amount == 1 else None
        if batch is None or members is None:
            return super().acquire_entry(key, limit, expiry, amount)
        if key not in batch.answers or key in batch.taken:
            # The first limit of this request: take them all.
            args: list[float] = [time.time()]
            for _, amount_, expiry_ in members:
                args += [amount_, expiry_]
            flat = self.lua_acquire_all([self.prefixed_key(k) for k, _, _ in members], args)
            for index, (member, _, _) in enumerate(members):
                taken, start, count = flat[3 * index : 3 * index + 3]
                batch.answers[member] = (bool(taken), float(start), int(count))
                batch.taken.discard(member)
        batch.taken.add(key)
        return batch.answers[key][0]

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        batch = self._batch()
        if batch is not None and key in batch.answers:
            _, start, count = batch.answers[key]
            return start, count
        return super().get_moving_window(key, limit, expiry)
