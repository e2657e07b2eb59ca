"""Running Evident's synchronous commands on an asyncio event loop without blocking it.

The eventsourcing library, and so the application service, is synchronous. An HTTP server
on asyncio can run such code in threads, but then every command's database round trip
hands the GIL back and forth between the event loop and a worker thread, and under load
that costs more CPU than the command itself (measured: a place-order costs about twice
the CPU in a thread beside a busy event loop as on its own). Instead, ``run_bridged`` runs
the command in a greenlet on the event loop's own thread; where the command waits for the
database, ``await_only`` hands the query to the event loop as a coroutine and switches
back when it is answered, so other requests run meanwhile. The command's code stays plain
synchronous Python. This is the technique SQLAlchemy's asyncio support is built on.

The calls on every command's path (appending, version lookups) are awaited this way on
an asyncio connection pool (``application.event_store``); the rarer ones (reading an
aggregate the cache does not hold, writing a snapshot, fetching a personal-data key) are
handed to a worker thread with ``blocking``. Either way the loop never waits on the
database, and outside a bridge the same code simply runs synchronously.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.to_thread
import greenlet

T = TypeVar("T")


class _Bridged(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet that runs synchronous code for a coroutine waiting on it."""


def bridged() -> bool:
    """Whether the caller runs inside ``run_bridged`` (and may use ``await_only``)."""
    return isinstance(greenlet.getcurrent(), _Bridged)


def await_only(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` on the event loop, from synchronous code run by ``run_bridged``."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Bridged):
        raise RuntimeError("await_only() outside run_bridged()")
    result: T = current.parent.switch(awaitable)
    return result


async def run_bridged(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run synchronous ``function`` on this event loop, awaiting what it awaits with
    ``await_only`` instead of blocking the loop."""
    child = _Bridged(function, greenlet.getcurrent())
    # Its own copy of the context, like a task's: what it sets stays its own.
    child.gr_context = contextvars.copy_context()
    result: Any = child.switch(*args, **kwargs)
    while not child.dead:
        try:
            value = await result
        except BaseException:
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    return result  # type: ignore[no-any-return]


def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function``, which blocks on I/O, without blocking the event loop when bridged.

    Outside ``run_bridged`` this is a plain call. Inside, the call runs in a worker thread
    while the loop goes on; for the database calls that are not on every command's path
    (reading an aggregate the cache does not hold, writing a snapshot, fetching a key).
    """
    if not bridged():
        return function(*args, **kwargs)
    return await_only(anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs)))


def pause(seconds: float) -> None:
    """Sleep for ``seconds``; when bridged, only this command waits, not the event loop."""
    if bridged():
        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


class OneAtATime:
    """Lets one caller at a time through, whether callers run in threads or bridged onto an
    event loop (where a thread lock would block the loop, and every other command with it)."""

    def __init__(self) -> None:
        self._thread_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())

    @contextmanager
    def turn(self) -> Iterator[None]:
        if not bridged():
            with self._thread_lock:
                yield
            return
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        await_only(lock.acquire())
        try:
            yield
        finally:
            lock.release()
