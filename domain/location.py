"""The network of stock locations (warehouses and stores) orders can ship from.

Locations are few and change rarely, and their ids must be unique across the network, so one
singleton aggregate with a fixed id holds them all: adding a location is then a single
optimistic-concurrency check instead of a uniqueness constraint outside the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    DuplicateLocationError,
    InvalidIdentifierError,
    InvalidPriorityError,
    LocationNotFoundError,
)
from domain.values import LocationKind, require_aware, require_text

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def require_location_id(location_id: str, *, field: str | None = None) -> str:
    """Location ids are client-chosen slugs such as ``berlin-dc``. ``field``: the input it
    came in (errors)."""
    if not isinstance(location_id, str) or not _SLUG.fullmatch(location_id):
        raise InvalidIdentifierError(
            "location id must be a slug of lowercase letters, digits and inner hyphens"
            f" (at most 64 characters), got {location_id!r}", field=field
        )
    return location_id


@dataclass(frozen=True)
class Location:
    location_id: str
    name: str
    kind: LocationKind
    priority: int


class LocationNetwork(Aggregate):
    """All locations. There is exactly one, with id ``LocationNetwork.ID``."""

    ID = uuid5(UUID("0b6c61e4-3f5e-4a8e-9d0a-6f1d2c7b9e21"), "location-network")

    class Created(Aggregate.Created):
        pass

    class LocationAdded(Aggregate.Event):
        location_id: str
        name: str
        kind: LocationKind
        priority: int

    @classmethod
    def create(cls, *, at: datetime) -> LocationNetwork:
        require_aware(at, "at")
        return cls(id=cls.ID, timestamp=at)

    @event(Created)
    def __init__(self, id: UUID, timestamp: datetime) -> None:
        self.locations: dict[str, Location] = {}

    def location(self, location_id: str) -> Location:
        try:
            return self.locations[location_id]
        except KeyError:
            raise LocationNotFoundError(f"there is no location {location_id!r}") from None

    @property
    def by_priority(self) -> list[Location]:
        """Locations in shipping preference: lower priority number first, then id."""
        return sorted(self.locations.values(), key=lambda loc: (loc.priority, loc.location_id))

    def add_location(
        self, *, location_id: str, name: str, kind: LocationKind, priority: int, at: datetime
    ) -> None:
        require_location_id(location_id, field="id")
        require_text(name, "location name", field="name")
        location_kind = LocationKind(kind)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidPriorityError(f"priority must be a whole number, got {priority!r}")
        require_aware(at, "at")
        if location_id in self.locations:
            raise DuplicateLocationError(f"location {location_id!r} already exists")
        self._add_location(
            location_id=location_id, name=name, kind=location_kind, priority=priority, timestamp=at
        )

    @event(LocationAdded)
    def _add_location(
        self, location_id: str, name: str, kind: LocationKind, priority: int, timestamp: datetime
    ) -> None:
        self.locations[location_id] = Location(location_id, name, kind, priority)


__all__ = ["Location", "LocationNetwork", "require_location_id"]
