"""The shortlist's speaker picker: the active catalogue by name, and a typed name resolved
to one speaker (or a message saying why it cannot be)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.catalogue.copies import per_catalogue
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


@lru_cache(maxsize=4096)  # a catalogue has a few bands: formatted once, not per speaker
def fee_band(fee_min: int, fee_max: int, currency: str) -> str:
    return f"{currency} {fee_min:,}\u2013{fee_max:,}"  # an en dash


def detail(pick: Pick, why: str = "") -> str:
    """What the picker shows beside a name: fee band, home city and, if suggested, why."""
    return " · ".join(part for part in (pick.fee_band, pick.home_city, why) if part)


class Listing:
    """The picker's part that follows the catalogue alone: every active speaker labelled,
    the look-ups by label, name and slug, and each ``<option>`` escaped but its quote. Built
    once per catalogue version (bureau/catalogue/copies.py), not per page."""

    def __init__(self, session: AnySession) -> None:
        rows = session.execute(
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

        self.picks = [
            Pick(
                row.id,
                row.slug,
                name,
                label(name, key, city_key, row.home_city, row.slug),
                row.home_city,
                fee_band(row.fee_min, row.fee_max, row.fee_currency),
            )
            for name, key, city_key, row in named
        ]
        self.bands = [(row.fee_min, row.fee_max) for _n, _k, _c, row in named]
        # Each <option> but its quote, escaped: the opening up to the quote, the closing
        # with the text (fee band and home city; a suggested speaker's gets why, per page).
        self.openings = [
            Markup('<option value="{}" data-city="{}" data-quote="').format(p.label, p.home_city)
            for p in self.picks
        ]
        self.closings = [Markup('">{}</option>').format(detail(p)) for p in self.picks]
        self.index = {p.id: i for i, p in enumerate(self.picks)}
        self.by_slug = {p.slug: p for p in self.picks}
        self.by_label: dict[str, Pick] = {}
        self.by_name: dict[str, list[Pick]] = {}
        for p, (_name, key, _city_key, _row) in zip(self.picks, named, strict=True):
            self.by_label[key if p.label == p.name else normalized(p.label)] = p
            self.by_name.setdefault(key, []).append(p)


class Picker:
    """Every active speaker, labelled by name; two speakers of one name are told apart by
    their home city (and, failing that, their web address). For a request, each offered
    with the fee to quote (their band met with its budget) and, for the suggested, why."""

    def __init__(
        self,
        session: AnySession,
        suggestions: Iterable[Suggestion] = (),
        booking: BookingRequest | None = None,
    ) -> None:
        self.listing = per_catalogue(session, "staff.picker", Listing)
        self.picks = self.listing.picks
        self.booking = booking
        self.why = {
            s.speaker.id: _("suggested: %(why)s", why=", ".join(s.reasons))
            for s in suggestions
            if s.reasons
        }

    def options(self) -> Markup:
        """The datalist's ``<option>``s: label, home city, fee quote, and the fee band,
        home city and (for the suggested) why as the text. Joined here rather than looped
        in the template: a thousand options were half the request page's time."""
        booking, listing = self.booking, self.listing
        # Speakers share fee bands: each band met with the budget once.
        quotes = {
            band: str(fee_quote(booking, *band)) if booking else "" for band in set(listing.bands)
        }
        closings = list(listing.closings)
        for speaker_id, why in self.why.items():  # the suggested few: with why
            i = listing.index.get(speaker_id)
            if i is not None:
                closings[i] = Markup('">{}</option>').format(detail(self.picks[i], why))
        parts: list[str] = []
        for opening, closing, band in zip(listing.openings, closings, listing.bands, strict=True):
            parts += (opening, quotes[band], closing)
        # Each piece is escaped already (by Markup.format); a quote is an integer's digits.
        return Markup("".join(parts))  # noqa: S704

    def label_of(self, speaker_id: int) -> str | None:
        i = self.listing.index.get(speaker_id)
        return self.picks[i].label if i is not None else None

    def find(self, typed: str) -> Pick | None:
        """The speaker a typed name means, or None (say why with ``resolve``)."""
        key = normalized(typed)
        return self.listing.by_label.get(key) or self.listing.by_slug.get(key)

    def resolve(self, typed: str) -> Pick:
        """The speaker a typed name means: its label as the picker shows it, in any case and
        spacing; or, as before the picker spoke names, its web address (slug)."""
        found = self.find(typed)
        if found is not None:
            return found
        shared = self.listing.by_name.get(normalized(typed), [])
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
