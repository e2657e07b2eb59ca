"""Admitting commands a few at a time: the route class of the routers that hold commands.

An API server process runs its commands on one event loop (``application.bridge``). With
every command of every connection in flight at once, the loop runs them in lockstep: each
of its passes runs the next step of all of them (32 place-orders' parsing, say, some 20 ms
of CPU), and a request that arrives meanwhile waits for the pass to end before the server
even reads it, while PostgreSQL juggles as many transactions as there are requests. Letting
a few commands through at a time (``OMS_COMMAND_CONCURRENCY``), the others waiting their
turn in arrival order, keeps the passes short and the database's work in step with the
server's. Measured in alternating runs of ``bench/http.py`` (32 connections placing
orders): with 4 at a time p99 was 31-37 ms at 1,435-1,575 orders/s; with all 32 at once
57-69 ms at 1,392-1,409 orders/s (2 at a time and 8 did about as well as 4).

Only commands wait: reads (``GET``, ``HEAD``, ``OPTIONS``) are answered as they come
(in the thread pool: a slow report must not hold up orders, nor orders a report). A command
is admitted before its body is parsed and leaves once its answer is built; the answer is
sent outside. A command keeps its slot while it waits for the database, so the right number
grows with the database's distance: 4 placed as many orders per second as 32 against a
database on the same machine; where each round trip takes milliseconds, more are needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def command_slots(concurrency: int) -> asyncio.Semaphore:
    """How many commands run at once in one server process (made by the app's lifespan, on
    the loop that serves it)."""
    return asyncio.Semaphore(concurrency)


class CommandRoute(APIRoute):
    """A route that, if it changes anything, waits for one of the app's command slots
    (``request.app.state.command_slots``) before it runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.admitted(self.plain_handler())

    def plain_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's own handler of the route, not admitted."""
        return super().get_route_handler()

    def admitted(
        self, handler: Callable[[Request], Coroutine[Any, Any, Response]]
    ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """``handler``, waiting for a command slot first if the route changes anything."""
        if (self.methods or set()) <= SAFE_METHODS:
            return handler

        async def admitted(request: Request) -> Response:
            slots: asyncio.Semaphore = request.app.state.command_slots
            async with slots:
                return await handler(request)

        return admitted
