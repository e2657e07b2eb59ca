"""Specifications for the location network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import (
    DuplicateLocationError,
    InvalidIdentifierError,
    InvalidPriorityError,
    LocationNotFoundError,
)
from domain.location import LocationNetwork
from domain.values import LocationKind
from tests.domain.scenario import at, given, rejected, then_single, when


def add(location_id: str, priority: Any = 1) -> Callable[[LocationNetwork], object]:
    return lambda n: n.add_location(
        location_id=location_id,
        name="Berlin DC",
        kind=LocationKind.WAREHOUSE,
        priority=priority,
        at=at(1),
    )


def test_the_network_has_a_fixed_id() -> None:
    assert LocationNetwork.create(at=at()).id == LocationNetwork.ID


def test_adding_a_location() -> None:
    network = given(LocationNetwork.create(at=at()))
    events = when(network, add("berlin-dc"))
    then_single(
        events,
        LocationNetwork.LocationAdded,
        location_id="berlin-dc",
        kind=LocationKind.WAREHOUSE,
        priority=1,
    )
    assert network.location("berlin-dc").name == "Berlin DC"


def test_locations_are_ranked_by_priority_then_id() -> None:
    network = given(LocationNetwork.create(at=at()), add("b", 2), add("c", 1), add("a", 2))
    assert [loc.location_id for loc in network.by_priority] == ["c", "a", "b"]


def test_cannot_add_a_location_twice() -> None:
    network = given(LocationNetwork.create(at=at()), add("berlin-dc"))
    error = rejected(network, add("berlin-dc"), DuplicateLocationError)
    assert error.kind == "conflict"


@pytest.mark.parametrize("location_id", ["Berlin", "berlin dc", "-berlin", "", "a" * 65])
def test_a_location_id_is_a_slug(location_id: str) -> None:
    rejected(given(LocationNetwork.create(at=at())), add(location_id), InvalidIdentifierError)


def test_a_priority_is_a_whole_number() -> None:
    rejected(given(LocationNetwork.create(at=at())), add("x", "1"), InvalidPriorityError)


def test_an_unknown_location_is_not_found() -> None:
    with pytest.raises(LocationNotFoundError):
        LocationNetwork.create(at=at()).location("nowhere")
