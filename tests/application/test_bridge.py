"""Synchronous commands bridged onto an event loop: same results, and the loop keeps going.

``application.bridge`` runs synchronous code in a greenlet on the loop's thread and turns its
database waits into awaits. These specifications check the bridge itself (values, errors,
interleaving, per-command context, hand-offs to threads) and then the application through
it against a real PostgreSQL: commands append through the asyncio pool, many run at once,
and a conflict or a stale read is handled exactly as it is without the bridge.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from application.bootstrap import create_order_management
from application.bridge import await_only, blocking, bridged, run_bridged
from application.event_store import EventRecorder
from application.order_management import OrderManagement
from application.settings import Settings
from domain.errors import InsufficientStockError
from domain.inventory import InventoryItem, inventory_item_id
from tests.application.builders import WAREHOUSE, add_locations, envelope, place, register, stock
from tests.clock import Clock

SEEN: ContextVar[str] = ContextVar("seen", default="nobody")


def test_a_bridged_call_returns_what_the_function_returns() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 41

    def command(add: int) -> tuple[bool, int]:
        return bridged(), await_only(answer()) + add

    assert asyncio.run(run_bridged(command, 1)) == (True, 42)
    assert not bridged()


def test_errors_travel_both_ways() -> None:
    async def fails() -> None:
        raise KeyError("from the loop")

    def command() -> None:
        try:
            await_only(fails())
        except KeyError as error:
            raise ValueError(f"seen by the command: {error}") from error

    with pytest.raises(ValueError, match="seen by the command"):
        asyncio.run(run_bridged(command))


def test_await_only_outside_a_bridge_is_refused() -> None:
    coroutine = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="outside run_bridged"):
        await_only(coroutine)
    coroutine.close()


def test_bridged_commands_wait_side_by_side_and_keep_their_own_context() -> None:
    def command(name: str) -> str:
        SEEN.set(name)
        await_only(asyncio.sleep(0.2))
        return SEEN.get()

    async def both() -> list[str]:
        return list(await asyncio.gather(run_bridged(command, "a"), run_bridged(command, "b")))

    started = time.perf_counter()
    assert asyncio.run(both()) == ["a", "b"]
    assert time.perf_counter() - started < 0.35, "the two waits must overlap"
    assert SEEN.get() == "nobody"


def test_blocking_calls_leave_the_loop_only_when_bridged() -> None:
    def where() -> int:
        return threading.get_ident()

    loop_thread = threading.get_ident()
    assert blocking(where) == loop_thread
    assert asyncio.run(run_bridged(blocking, where)) != loop_thread


# --- the application through the bridge --------------------------------------------------------


@pytest.fixture
def served(database_url: str) -> Iterator[OrderManagement]:
    oms = create_order_management(database_url, Settings(DATABASE_URL=database_url))
    oms.clock = Clock()
    add_locations(oms)
    stock(oms, "MUG", WAREHOUSE, 10)
    try:
        yield oms
    finally:
        oms.close()


def _on_the_loop(
    oms: OrderManagement, database_url: str, *commands: Any, connections: int = 4
) -> list[Any]:
    """Run ``commands`` (callables) bridged and concurrently, as the HTTP server does; check
    that their appends went through the asyncio pool."""

    async def main() -> list[Any]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=1, max_size=connections, kwargs={"autocommit": True},
            open=False,
        )
        await pool.open()
        recorder = oms.recorder
        assert isinstance(recorder, EventRecorder)
        recorder.async_pool = pool
        try:
            results = list(await asyncio.gather(
                *(run_bridged(command) for command in commands), return_exceptions=True
            ))
            assert pool.get_stats().get("requests_num", 0) >= len(commands)
            return results
        finally:
            recorder.async_pool = None
            await pool.close()

    return asyncio.run(main())


def test_commands_on_the_loop_record_what_they_record_in_threads(
    served: OrderManagement, database_url: str
) -> None:
    customer = register(served)
    results = _on_the_loop(served, database_url,
                           *(lambda: place(served, customer, ("MUG", 2)) for _ in range(4)))

    assert all(not isinstance(r, BaseException) for r in results), results
    positions = sorted(r.position for r in results)
    assert len(set(positions)) == 4
    item: Any = served.repository.get(inventory_item_id("MUG", WAREHOUSE))
    assert isinstance(item, InventoryItem)
    assert (item.on_hand, item.reserved, item.version) == (10, 8, 6)


def test_on_the_loop_the_last_units_go_to_exactly_one_of_two_commands(
    served: OrderManagement, database_url: str
) -> None:
    customer = register(served)
    place(served, customer, ("MUG", 9))

    def take_the_last(quantity: int) -> Any:
        item = served.inventory_items("MUG")[0]
        item.reserve(order_id=customer, line_id=str(quantity), quantity=quantity,
                     at=served.clock())
        return served._commit(item, envelope=envelope())

    results = _on_the_loop(served, database_url,
                           lambda: served._retrying(lambda: take_the_last(1)),
                           lambda: served._retrying(lambda: take_the_last(1)))

    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, InsufficientStockError) for r in results) == 1


def test_a_burst_of_orders_for_one_sku_on_the_loop_all_succeed(
    served: OrderManagement, database_url: str
) -> None:
    customer = register(served)
    stock(served, "MUG", WAREHOUSE, 20)
    results = _on_the_loop(served, database_url,
                           *(lambda: place(served, customer, ("MUG", 1)) for _ in range(30)),
                           connections=30)

    assert [type(r).__name__ for r in results if isinstance(r, BaseException)] == []
    item: Any = served.repository.get(inventory_item_id("MUG", WAREHOUSE))
    assert item.reserved == 30
