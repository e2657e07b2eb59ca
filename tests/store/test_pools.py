"""Evident's connection pools hand out the connection returned most recently
(``application.pools``), against a real PostgreSQL: a lone caller keeps getting the same
backend, where psycopg's own pool goes round all of them. This also fails if a psycopg-pool
release changes the internals the pools rely on."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg
import psycopg_pool

from application.bootstrap import create_order_management
from application.pools import AsyncRecentFirstPool, RecentFirstPool
from application.settings import Settings

SIZE = 3


def _backends_in_turn(pool: psycopg_pool.ConnectionPool[Any], turns: int) -> list[int]:
    backends = []
    for _ in range(turns):
        with pool.connection() as conn:
            backends.append(conn.info.backend_pid)
    return backends


def test_a_lone_caller_keeps_the_connection_it_returned(database_url: str) -> None:
    pool: RecentFirstPool[psycopg.Connection[Any]] = RecentFirstPool(
        database_url, min_size=SIZE, max_size=SIZE, open=False)
    with pool:
        pool.open(wait=True)
        assert len(set(_backends_in_turn(pool, 2 * SIZE))) == 1
        first, second = pool.getconn(), pool.getconn()
        pool.putconn(first)
        pool.putconn(second)
        assert _backends_in_turn(pool, 1) == [second.info.backend_pid]


def test_psycopgs_own_pool_goes_round_all_of_them(database_url: str) -> None:
    """The negative control: what the subclass changes."""
    pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
        database_url, min_size=SIZE, max_size=SIZE, open=False)
    with pool:
        pool.open(wait=True)
        assert len(set(_backends_in_turn(pool, 2 * SIZE))) == SIZE


def test_a_caller_waiting_for_a_busy_pool_gets_the_connection_returned(
    database_url: str,
) -> None:
    pool: RecentFirstPool[psycopg.Connection[Any]] = RecentFirstPool(
        database_url, min_size=1, max_size=1, open=False)
    with pool:
        pool.open(wait=True)
        held = pool.getconn()
        got: list[psycopg.Connection[Any]] = []
        waiter = threading.Thread(target=lambda: got.append(pool.getconn(timeout=10)))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive()  # nothing idle: it waits
        assert not got
        pool.putconn(held)
        waiter.join(10)
        assert got == [held]
        pool.putconn(got[0])


def test_the_asyncio_pool_too(database_url: str) -> None:
    async def backends() -> tuple[list[int], int, int]:
        pool: AsyncRecentFirstPool[psycopg.AsyncConnection[Any]] = AsyncRecentFirstPool(
            database_url, min_size=SIZE, max_size=SIZE, open=False)
        async with pool:
            await pool.open(wait=True)
            seen = []
            for _ in range(2 * SIZE):
                async with pool.connection() as conn:
                    seen.append(conn.info.backend_pid)
            first, second = await pool.getconn(), await pool.getconn()
            await pool.putconn(first)
            await pool.putconn(second)
            async with pool.connection() as conn:
                return seen, second.info.backend_pid, conn.info.backend_pid

    seen, returned_last, handed_out = asyncio.run(backends())
    assert len(set(seen)) == 1
    assert handed_out == returned_last


def test_the_applications_datastore_pool_hands_out_the_most_recent_first(
    database_url: str,
) -> None:
    oms = create_order_management(database_url,
                                  Settings(DATABASE_URL=database_url, OMS_DB_POOL_SIZE=SIZE))
    try:
        datastore = oms.recorder.datastore  # type: ignore[attr-defined]
        datastore.pool.open(wait=True)
        backends = []
        for _ in range(2 * SIZE):
            with datastore.get_connection() as conn:
                backends.append(conn.info.backend_pid)
        assert len(set(backends)) == 1
    finally:
        oms.close()
