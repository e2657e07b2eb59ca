"""Projection status and rebuilds (API.md § projections): operators and analysts."""

from __future__ import annotations

import logging
import threading
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
    thread = threading.Thread(
        target=_rebuild_in_background, args=(request.app.state.database_url, name),
        name=f"rebuild-{name}", daemon=True,
    )
    thread.start()
    return JSONResponse(
        {"name": name, "state": "rebuilding",
         "detail": "the current tables answer until the new ones are complete"},
        status_code=202,
    )
