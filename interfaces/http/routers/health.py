"""Liveness and readiness: no key needed, so load balancers and operators can ask freely."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response

from interfaces.http.deps import read_connection
from interfaces.http.schemas import Health
from projections.status import projection_status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(
    request: Request,
    response: Response,
    conn: Annotated[psycopg.Connection[Any], Depends(read_connection)],
) -> Health:
    """Ready when the database answers, no projection is halted and none lags behind the log
    by more than ``OMS_READY_MAX_LAG`` seconds (reads would wait or be stale)."""
    checks: dict[str, str] = {}
    try:
        conn.execute("SELECT 1")
        checks["database"] = "ok"
    except psycopg.Error as e:
        checks["database"] = f"unreachable: {e}"
        response.status_code = 503
        return Health(status="unavailable", checks=checks)
    limit = request.app.state.settings.ready_max_lag
    ready = True
    for item in projection_status(conn):
        late = item["lag_seconds"] > limit
        ready = ready and item["state"] != "halted" and not late
        checks[f"projection:{item['name']}"] = (
            f"{item['state']}, {item['lag_events']} events / {item['lag_seconds']} s behind"
            + (f" (more than {limit:g} s)" if late else "")
        )
    if not ready:
        response.status_code = 503
        return Health(status="degraded", checks=checks)
    return Health(status="ok", checks=checks)
