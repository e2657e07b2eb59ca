"""The demo data set: reproducible, complete, and quick enough to run on every ``oms demo``.

Reproducibility is the promise that makes a demo database useful as a fixture (for projection
rebuilds, benchmarks and bug reports), so it is checked on the log itself: two fresh databases
filled with the same seed must hold the same events, in the same order, with the same
envelopes. Personal fields are sealed with a random per-customer key and nonce
(``application.personal_data``), so for events that carry them the opened event is compared
instead of the ciphertext; every other event must match byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from application.bootstrap import create_order_management
from application.demo import LOCATIONS, PATHS, DemoSummary, fill_demo
from application.envelope import Envelope
from application.errors import AlreadyExistsError
from application.order_management import OrderManagement
from application.settings import Settings
from domain.values import LocationKind

ORDERS = 120

LogRow = tuple[Any, ...]


@dataclass(frozen=True)
class Filled:
    """One demo run on its own fresh database, with what it recorded."""

    summary: DemoSummary
    log: list[LogRow]
    progress: list[int]
    seconds: float


def _read_log(app: OrderManagement, database_url: str) -> list[LogRow]:
    """Every event in log order: ids, topic, envelope columns, and the state (opened when it
    holds sealed personal data, whose ciphertext differs from run to run by design)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state, actor, actor_role, channel,"
            " reason, correlation_id, causation_id, command_id"
            " FROM events ORDER BY notification_id"
        ).fetchall()
    log: list[LogRow] = []
    for originator_id, version, topic, raw, *envelope in rows:
        state: object = bytes(raw)
        if b"PersonalData" in raw:
            event = app.mapper.to_domain_event(StoredEvent(originator_id, version, topic, raw))
            state = vars(event)
        log.append((originator_id, version, topic, state, *envelope))
    return log


def _fill(make_database: Callable[[], str], *, seed: int = 7, orders: int = ORDERS) -> Filled:
    url = make_database()
    app = create_order_management(url, Settings(DATABASE_URL=url))
    clock, new_id = app.clock, app.new_id
    progress: list[int] = []
    try:
        started = time.perf_counter()
        summary = fill_demo(app, seed=seed, orders=orders, on_progress=progress.append)
        seconds = time.perf_counter() - started
        # The run borrows the application's clock and id generator, and gives them back.
        assert (app.clock, app.new_id) == (clock, new_id)
        return Filled(summary, _read_log(app, url), progress, seconds)
    finally:
        app.close()


@pytest.fixture(scope="module")
def twice(make_database: Callable[[], str]) -> tuple[Filled, Filled]:
    """The default demo (smaller) filled into two fresh databases; shared by the tests that
    only look at the results, because each fill takes a few seconds."""
    return _fill(make_database), _fill(make_database)


def test_the_same_seed_records_the_same_log(twice: tuple[Filled, Filled]) -> None:
    first, second = twice
    assert len(first.log) == first.summary.events
    assert first.summary == second.summary
    for position, (a, b) in enumerate(zip(first.log, second.log, strict=True), 1):
        assert a == b, f"event {position} differs"


def test_every_lifecycle_path_is_taken_with_the_default_mix(
    twice: tuple[Filled, Filled],
) -> None:
    summary = twice[0].summary
    assert set(summary.paths) == set(PATHS)
    assert [path for path, count in summary.paths.items() if count == 0] == []
    assert summary.orders == ORDERS
    assert sum(summary.statuses.values()) == ORDERS
    assert {"open", "cancelled", "partially_shipped", "shipped", "delivered"} <= set(
        summary.statuses
    )


def test_the_shop_has_enough_locations_products_and_customers_to_look_real(
    twice: tuple[Filled, Filled],
) -> None:
    summary = twice[0].summary
    assert summary.locations >= 3
    assert {place.kind for place in LOCATIONS} == {LocationKind.WAREHOUSE, LocationKind.STORE}
    assert summary.skus >= 50
    assert summary.customers >= 30
    # Orders spread over weeks, not seconds, so time-based screens have something to show.
    assert summary.last_at - summary.first_at > timedelta(weeks=3)


def test_progress_is_reported_once_per_order(twice: tuple[Filled, Filled]) -> None:
    assert twice[0].progress == [1] * ORDERS


def test_envelopes_vary_actors_roles_and_channels(twice: tuple[Filled, Filled]) -> None:
    log = twice[0].log
    actors = {row[4] for row in log}
    assert {"web-shop", "ana", "ben", "wms"} <= actors
    assert {row[5] for row in log} >= {"client", "agent", "admin", "system"}
    assert {row[6] for row in log} >= {"web", "store", "marketplace", "phone", "console", "wms"}
    assert any(row[7] for row in log), "no command carried a reason"
    # Follow-up commands on an order are caused by the previous one and share its correlation.
    assert any(row[9] is not None and row[8] != row[10] for row in log)


def test_a_different_seed_records_different_data(
    make_database: Callable[[], str], twice: tuple[Filled, Filled]
) -> None:
    def customers(log: list[LogRow]) -> set[UUID]:
        return {row[0] for row in log if str(row[2]).endswith(":Customer.Registered")}

    other = _fill(make_database, seed=8, orders=10)
    assert len(customers(other.log)) == 30
    assert customers(other.log).isdisjoint(customers(twice[0].log))


def test_refuses_a_database_that_already_holds_events(oms: OrderManagement) -> None:
    oms.add_location(
        location_id="berlin-dc", name="Berlin DC", kind=LocationKind.WAREHOUSE, priority=1,
        envelope=Envelope(actor="ops", role="admin", channel="console"),
    )
    with pytest.raises(AlreadyExistsError, match="empty database"):
        fill_demo(oms, orders=1)


@pytest.mark.slow
def test_the_default_demo_fills_a_thousand_orders(make_database: Callable[[], str]) -> None:
    filled = _fill(make_database, orders=1000)
    summary = filled.summary
    print(f"\nfill_demo: 1000 orders, {summary.events} events in {filled.seconds:.1f} s")
    print(f"paths: {summary.paths}\nstatuses: {summary.statuses}")
    assert summary.orders == 1000
    assert len(filled.log) == summary.events
    assert filled.progress == [1] * 1000
    assert [path for path, count in summary.paths.items() if count == 0] == []
    assert sum(summary.statuses.values()) == 1000
