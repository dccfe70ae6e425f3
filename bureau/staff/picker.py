"""The shortlist's speaker picker: the active catalogue by name, and a typed name resolved
to one speaker (or a message saying why it cannot be)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.catalogue.models import Speaker
from bureau.db import AnySession
from bureau.staff.suggestions import Suggestion, fee_quote


class NotASpeaker(Exception):
    """A typed name names no active speaker, or more than one; the message says which."""


def tidy(text: str) -> str:
    return " ".join(text.split())


def normalized(text: str) -> str:
    """Case and runs of spaces do not matter: "  kaiser   KUO " is "kaiser kuo"."""
    return tidy(text).casefold()


class Pick(NamedTuple):
    """One active speaker as the picker offers it (a tuple: a thousand are made per page)."""

    id: int
    slug: str
    name: str
    label: str  # what the picker shows and accepts: the name, plus the home city when shared
    home_city: str
    fee_band: str
    reasons: str = ""  # why the suggestions rank them, for the suggested few
    quote: int | None = None  # the fee to quote for the request, its band met with the budget

    @property
    def detail(self) -> str:
        return " · ".join(p for p in (self.fee_band, self.home_city, self.reasons) if p)


@lru_cache(maxsize=4096)  # a catalogue has a few bands: formatted once, not per speaker
def fee_band(fee_min: int, fee_max: int, currency: str) -> str:
    return f"{currency} {fee_min:,}\u2013{fee_max:,}"  # an en dash


class Picker:
    """Every active speaker, labelled by name; two speakers of one name are told apart by
    their home city (and, failing that, their web address)."""

    def __init__(
        self,
        session: AnySession,
        suggestions: Iterable[Suggestion] = (),
        booking: BookingRequest | None = None,
    ) -> None:
        rows = list(
            session.execute(
                select(
                    Speaker.id,
                    Speaker.slug,
                    Speaker.name,
                    Speaker.home_city,
                    Speaker.fee_min,
                    Speaker.fee_max,
                    Speaker.fee_currency,
                ).where(Speaker.is_active)
            ).all()
        )
        why = {s.speaker.id: ", ".join(s.reasons) for s in suggestions}
        # (name, normalized name, normalized "name (city)", row): each normalized once.
        named = [
            (name, key, normalized(f"{name} ({row.home_city})"), row)
            for row in rows
            for name in (tidy(row.name),)
            for key in (normalized(name),)
        ]
        named.sort(key=lambda item: (item[1], item[3].home_city, item[3].slug))
        names = Counter(item[1] for item in named)
        with_city = Counter(item[2] for item in named)

        def label(name: str, key: str, city_key: str, city: str, slug: str) -> str:
            if names[key] == 1:
                return name
            if with_city[city_key] == 1:
                return f"{name} ({city})"
            return f"{name} ({city}, {slug})"

        # Speakers share fee bands: each band met with the budget once.
        quote = cache(lambda low, high: fee_quote(booking, low, high) if booking else None)
        self.picks = [
            Pick(
                row.id,
                row.slug,
                name,
                label(name, key, city_key, row.home_city, row.slug),
                row.home_city,
                fee_band(row.fee_min, row.fee_max, row.fee_currency),
                _("suggested: %(why)s", why=why[row.id]) if why.get(row.id) else "",
                quote(row.fee_min, row.fee_max),
            )
            for name, key, city_key, row in named
        ]
        self._by_id = {p.id: p for p in self.picks}
        self._by_slug = {p.slug: p for p in self.picks}
        self._by_label: dict[str, Pick] = {}
        self._by_name: dict[str, list[Pick]] = {}
        for p, (_name, key, _city_key, _row) in zip(self.picks, named, strict=True):
            self._by_label[key if p.label == p.name else normalized(p.label)] = p
            self._by_name.setdefault(key, []).append(p)

    def label_of(self, speaker_id: int) -> str | None:
        pick = self._by_id.get(speaker_id)
        return pick.label if pick else None

    def find(self, typed: str) -> Pick | None:
        """The speaker a typed name means, or None (say why with ``resolve``)."""
        key = normalized(typed)
        return self._by_label.get(key) or self._by_slug.get(key)

    def resolve(self, typed: str) -> Pick:
        """The speaker a typed name means: its label as the picker shows it, in any case and
        spacing; or, as before the picker spoke names, its web address (slug)."""
        found = self.find(typed)
        if found is not None:
            return found
        shared = self._by_name.get(normalized(typed), [])
        if shared:
            options = "; ".join(f"“{p.label}”" for p in shared)
            raise NotASpeaker(
                _(
                    "%(count)s speakers are called “%(name)s”: pick one of %(options)s.",
                    count=len(shared),
                    name=shared[0].name,
                    options=options,
                )
            )
        raise NotASpeaker(
            _(
                "No active speaker is called “%(name)s”: pick a name from the list.",
                name=tidy(typed),
            )
        )
