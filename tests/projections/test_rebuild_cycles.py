"""Rebuild processes rebuild with the garbage collector off (``projections.parallel_rebuild``).

That is safe only while rebuilding makes no reference cycles: everything it allocates must
be freed by reference counting, or memory would grow with the log. These tests rebuild
every read model over a demo shop (every lifecycle path, so every event type and handler)
with the collector off and count what a collection finds afterwards, frozen objects
included; a projection that makes a cycle per event shows that the count would see it
(negative control). A rebuild in a server's thread (``engine.rebuild``) leaves the
collector alone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from application.bootstrap import create_order_management
from application.demo import fill_demo
from application.settings import Settings
from projections import registry
from projections.engine import ProjectedEvent, rebuild, rebuild_together
from projections.parallel_rebuild import collector_paused, rebuild_in_parallel
from tests.projections.counting import CountingProjection


class _CyclingProjection(CountingProjection):
    """Counts events, and leaves a reference cycle behind for each one."""

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        super().apply(conn, schema, events)
        for _ in events:
            cycle: list[Any] = []
            cycle.append(cycle)


@pytest.fixture
def demo_url(database_url: str) -> str:
    oms = create_order_management(database_url, Settings(DATABASE_URL=database_url))
    try:
        fill_demo(oms, orders=40)
    finally:
        oms.close()
    return database_url


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector off for the test (as the rebuild turns it off), back on afterwards."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _unreachable_after_rebuild(database_url: str, projections: Sequence[Any]) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rebuild_together(conn, projections, batch_size=97)
    gc.unfreeze()  # the rebuild froze what it left alive, where a collection would not look
    return gc.collect()


@pytest.mark.usefixtures("collector_off")
def test_rebuilding_every_read_model_leaves_no_cycles_behind(demo_url: str) -> None:
    _unreachable_after_rebuild(demo_url, registry.select())  # first use: imports, caches
    assert _unreachable_after_rebuild(demo_url, registry.select()) == 0


@pytest.mark.usefixtures("collector_off")
def test_a_projection_that_makes_cycles_is_seen(demo_url: str) -> None:
    with psycopg.connect(demo_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    assert _unreachable_after_rebuild(demo_url, [_CyclingProjection()]) >= int(row[0])


def test_a_parallel_rebuild_pauses_the_collector_and_gives_it_back(demo_url: str) -> None:
    seen: list[bool] = []

    def progress(_: int) -> None:
        seen.append(gc.isenabled())

    assert gc.isenabled()
    rebuild_in_parallel(demo_url, registry.select(["order_status"]), workers=1,
                        batch_size=500, on_progress=progress)
    assert seen
    assert not any(seen)
    assert gc.isenabled()
    gc.disable()
    try:
        rebuild_in_parallel(demo_url, registry.select(["order_status"]), workers=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_is_off_while_paused_only() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_rebuild_in_a_servers_thread_leaves_the_collector_alone(demo_url: str) -> None:
    seen: list[bool] = []

    def progress(_: int) -> None:
        seen.append(gc.isenabled())

    with psycopg.connect(demo_url, autocommit=True) as conn:
        rebuild(conn, registry.select(["order_status"])[0], batch_size=500,
                on_progress=progress)
    assert seen
    assert all(seen)
