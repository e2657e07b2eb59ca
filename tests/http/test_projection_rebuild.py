"""``POST /v1/projections/{name}/rebuild``: a fresh generation built behind the live one.

The answer is 202 at once; the rebuild runs in a thread of the server, and the read model
keeps answering from its current tables until the new ones are complete and switched to.
Asking again while a rebuild of the same read model runs starts no second one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from interfaces.http.routers import projections as projections_router
from tests.http.conftest import ADMIN, ANALYST, WAREHOUSE, ok, problem


def _live_generation(database_url: str, name: str) -> int | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT generation FROM projection_tracking WHERE name = %s AND live", (name,)
        ).fetchone()
    return int(row[0]) if row else None


def _started(started: list[str], count: int) -> list[str]:
    """``started`` once it holds ``count`` names (and a moment more, for any extra)."""
    deadline = time.monotonic() + 10
    while len(started) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    return list(started)


def _join_rebuilds() -> None:
    """Wait for the server's rebuild threads, so none outlives its test's database."""
    for thread in threading.enumerate():
        if thread.name.startswith("rebuild-"):
            thread.join(30)


def test_a_rebuild_switches_to_a_new_generation_that_holds_what_the_old_one_did(
    http: TestClient, project: Any, database_url: str
) -> None:
    ok(http.post("/v1/locations", json={"id": WAREHOUSE, "name": "Berlin", "kind": "warehouse",
                                        "priority": 1}, headers=ADMIN), 201)
    ok(http.post("/v1/inventory/SKU-R/receipts",
                 json={"location_id": WAREHOUSE, "quantity": 7}, headers=ADMIN))
    project()
    before = _live_generation(database_url, "stock_visibility")
    assert before is not None

    answer = ok(http.post("/v1/projections/stock_visibility/rebuild", headers=ANALYST), 202)
    assert answer["name"] == "stock_visibility"
    assert answer["state"] == "rebuilding"

    deadline = time.monotonic() + 30
    while _live_generation(database_url, "stock_visibility") == before:
        assert time.monotonic() < deadline, "the rebuild did not switch within 30 s"
        time.sleep(0.05)
    _join_rebuilds()
    assert ok(http.get("/v1/inventory/SKU-R", headers=ADMIN))["on_hand"] == 7


def test_asking_again_while_a_rebuild_runs_starts_no_second_one(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    started: list[str] = []

    def rebuild_until_released(database_url: str, name: str) -> None:
        started.append(name)
        release.wait(10)

    monkeypatch.setattr(projections_router, "_rebuild_in_background", rebuild_until_released)
    try:
        first = ok(http.post("/v1/projections/care/rebuild", headers=ANALYST), 202)
        again = ok(http.post("/v1/projections/care/rebuild", headers=ADMIN), 202)
        other = ok(http.post("/v1/projections/invoices/rebuild", headers=ANALYST), 202)
        assert _started(started, 2) == ["care", "invoices"]
        assert "already" not in first["detail"]
        assert "already running" in again["detail"]
        assert "already" not in other["detail"]
    finally:
        release.set()
    _join_rebuilds()

    # Once it has finished, asking again starts a new one.
    release.clear()
    try:
        ok(http.post("/v1/projections/care/rebuild", headers=ANALYST), 202)
        assert _started(started, 3) == ["care", "invoices", "care"]
    finally:
        release.set()
    _join_rebuilds()


def test_rebuilding_a_read_model_that_does_not_exist_is_404(http: TestClient) -> None:
    body = problem(http.post("/v1/projections/nope/rebuild", headers=ANALYST), 404)
    assert "nope" in body["detail"]
