"""Liveness and readiness need no key; readiness reports each projection and turns 503
when one is halted or lags too far behind the log."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from fastapi.testclient import TestClient

from tests.http.conftest import ok


def test_healthz_and_readyz(
    http: TestClient, database_url: str, project: Callable[[], None]
) -> None:
    assert http.get("/healthz", headers={}).json() == {"status": "ok", "checks": {}}
    ok(http.post("/v1/customers", json={"name": "Jo", "email": "jo@example.com"}), 201)
    project()
    ready = http.get("/readyz", headers={})
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["projection:order_status"].startswith("live, 0 events")

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE projection_tracking SET state = 'halted', error = 'boom'"
                     " WHERE name = 'invoices' AND live")
    halted = http.get("/readyz", headers={})
    assert halted.status_code == 503
    assert halted.json()["checks"]["projection:invoices"].startswith("halted")
