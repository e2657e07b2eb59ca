"""Liveness and readiness: no key needed, so load balancers and operators can ask freely."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Response

from interfaces.http.deps import read_connection
from interfaces.http.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(
    response: Response, conn: Annotated[psycopg.Connection[Any], Depends(read_connection)]
) -> Health:
    """The database answers and the projections are tracked."""
    checks: dict[str, str] = {}
    try:
        conn.execute("SELECT 1")
        checks["database"] = "ok"
    except psycopg.Error as e:
        checks["database"] = f"unreachable: {e}"
        response.status_code = 503
        return Health(status="unavailable", checks=checks)
    rows = conn.execute(
        "SELECT name, state FROM projection_tracking ORDER BY name"
    ).fetchall() if _has_tracking(conn) else []
    for name, state in rows:
        checks[f"projection:{name}"] = state
    if any(state == "halted" for _, state in rows):
        response.status_code = 503
        return Health(status="degraded", checks=checks)
    return Health(status="ok", checks=checks)


def _has_tracking(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('projection_tracking') IS NOT NULL").fetchone()
    return bool(row and row[0])
