"""Travel time between engagements: a buffer that grows with the distance between places."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


class HasPlace(Protocol):
    @property
    def city(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def is_virtual(self) -> bool: ...


@dataclass(frozen=True)
class Place:
    city: str | None
    country: str | None
    area: str  # the first part of the IANA zone: Europe, Asia, America…
    virtual: bool

    @classmethod
    def of(cls, thing: HasPlace) -> Place:
        return cls(
            city=(thing.city or "").strip().casefold() or None,
            country=thing.country,
            area=thing.timezone.split("/", 1)[0],
            virtual=bool(thing.is_virtual),
        )


@dataclass(frozen=True)
class TravelBuffers:
    same_city: timedelta
    same_country: timedelta
    same_area: timedelta
    elsewhere: timedelta

    @property
    def largest(self) -> timedelta:
        return max(self.same_city, self.same_country, self.same_area, self.elsewhere)

    def between(self, a: Place, b: Place) -> timedelta:
        """A virtual talk needs no travel; otherwise the nearer the places, the less time."""
        if a.virtual or b.virtual:
            return self.same_city
        if a.city is not None and a.city == b.city and a.country == b.country:
            return self.same_city
        if a.country is not None and a.country == b.country:
            return self.same_country
        if a.area == b.area:
            return self.same_area
        return self.elsewhere


def parse_buffers(text: str) -> TravelBuffers:
    """'same_city=1,same_country=6,same_area=12,elsewhere=24' (hours) → TravelBuffers."""
    values: dict[str, timedelta] = {}
    for item in text.split(","):
        name, _, hours = item.partition("=")
        values[name.strip()] = timedelta(hours=float(hours))
    return TravelBuffers(**values)
