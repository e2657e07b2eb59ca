"""Projection status and rebuilds (API.md § projections): operators and analysts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from application.errors import NotFoundError
from interfaces.http.auth import REBUILDERS, Principal, require
from interfaces.http.deps import ReadConn, Reader
from projections import registry
from projections.engine import AlreadyRebuildingError, rebuild
from projections.status import projection_status

log = logging.getLogger("evident.http.projections")

router = APIRouter(prefix="/v1/projections", tags=["projections"])


@router.get("")
def list_projections(conn: ReadConn, _: Reader) -> Any:
    """Each read model's position, the log head, lag in events and seconds, state, error."""
    return {"items": projection_status(conn)}


class Rebuilds:
    """The rebuilds this server process has started, at most one per read model at a time.

    Asking again while one runs starts nothing: a second would only open a connection to
    find the first holding the rebuild lock (``AlreadyRebuildingError``), and an impatient
    client repeating the request would pile up threads. Rebuilds started elsewhere (the CLI,
    another server) are kept apart by that lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    def start(self, name: str, rebuild: Callable[[], None]) -> bool:
        """Run ``rebuild`` in a thread unless one for ``name`` still runs; True if started."""
        with self._lock:
            running = self._threads.get(name)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(target=rebuild, name=f"rebuild-{name}", daemon=True)
            self._threads[name] = thread
            thread.start()
            return True


def _rebuild_in_background(database_url: str, name: str) -> None:
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rebuild(conn, registry.select([name])[0])
    except AlreadyRebuildingError:
        log.info("projection %s: a rebuild is already running", name)
    except Exception:
        log.exception("rebuild of projection %s failed", name)


@router.post("/{name}/rebuild", status_code=202)
def request_rebuild(
    name: str, request: Request, _: Annotated[Principal, require(REBUILDERS)]
) -> Any:
    """Build fresh tables from the whole log; the current ones serve until the switch."""
    if name not in registry.FACTORIES:
        raise NotFoundError(f"there is no projection {name!r}")
    database_url = request.app.state.database_url
    started = request.app.state.rebuilds.start(
        name, lambda: _rebuild_in_background(database_url, name))
    detail = "the current tables answer until the new ones are complete"
    return JSONResponse(
        {"name": name, "state": "rebuilding",
         "detail": detail if started else f"a rebuild of {name} is already running; {detail}"},
        status_code=202,
    )
