"""When the database drops the API's connections (a restart, a failover), a request that
meets a dead connection answers 503 with Retry-After, not 500, and has every pool test its
idle connections: the requests after it succeed, however many connections had died."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.dropped_connections import drop_other_connections
from tests.http.conftest import problem


def test_a_dropped_database_connection_answers_503_and_the_next_request_succeeds(
    http: TestClient, database_url: str
) -> None:
    def register(n: int) -> int:
        body = {"name": "Jo Doe", "email": f"jo{n}@example.com"}
        status: int = http.post("/v1/customers", json=body).status_code
        return status

    with ThreadPoolExecutor(8) as concurrent:  # several connections open in the pools
        assert set(concurrent.map(register, range(32))) == {201}
    assert drop_other_connections(database_url) >= 1

    refused = http.post("/v1/customers", json={"name": "Al Doe", "email": "al@example.com"})
    body = problem(refused, 503)
    assert refused.headers["Retry-After"] == "1"
    assert "retry" in body["detail"]
    for n in range(100, 110):
        assert register(n) == 201
