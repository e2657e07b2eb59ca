"""``Idempotency-Key`` (API.md § Conventions), specified through the real app on PostgreSQL.

A retried command must answer like the first attempt and record nothing new; a reused key
with another request is a 422; a duplicate that overlaps the first is a 409; failures (5xx)
give the key back. The concurrency test fires identical requests at once and counts the
aggregates actually recorded in the event store.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from application.settings import Settings
from interfaces.http.app import create_app
from interfaces.http.idempotency import Claimed, IdempotencyStore, Mismatch, Running

KEYS = "erp:client:k-erp,pos:client:k-pos,ana:agent:k-ana,aud:auditor:k-aud"
ERP = {"Authorization": "Bearer k-erp"}
POS = {"Authorization": "Bearer k-pos"}
AUDITOR = {"Authorization": "Bearer k-aud"}
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


def keyed(auth: dict[str, str], key: str) -> dict[str, str]:
    return {**auth, "Idempotency-Key": key}


def customers_recorded(database_url: str) -> int:
    """How many aggregates the log holds: each registration creates exactly one."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(DISTINCT originator_id) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def stored_keys(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT scope, key, state, status FROM idempotency_keys ORDER BY created_at"
        ).fetchall()


def build_app(database_url: str) -> FastAPI:
    return create_app(Settings(DATABASE_URL=database_url, OMS_API_KEYS=KEYS), database_url)


@pytest.fixture
def http(database_url: str) -> Iterator[TestClient]:
    with TestClient(build_app(database_url)) as client:
        yield client


def test_a_retry_gets_the_first_answer_and_records_nothing_new(
    http: TestClient, database_url: str
) -> None:
    first = http.post("/v1/customers", json=ADA, headers=keyed(ERP, "register-ada"))
    assert first.status_code == 201, first.text
    again = http.post("/v1/customers", json=ADA, headers=keyed(ERP, "register-ada"))
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert customers_recorded(database_url) == 1


def test_a_retry_that_reserialises_the_same_json_is_the_same_request(
    http: TestClient, database_url: str
) -> None:
    headers = {**keyed(ERP, "k"), "Content-Type": "application/json"}
    first = http.post("/v1/customers", headers=headers,
                      content=b'{"name": "Ada Lovelace",  "email": "ada@example.com"}')
    again = http.post("/v1/customers", headers=headers,
                      content=b'{"email":"ada@example.com","name":"Ada Lovelace"}')
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert customers_recorded(database_url) == 1


def test_the_same_key_with_a_different_request_is_a_422_on_the_header(
    http: TestClient, database_url: str
) -> None:
    assert http.post("/v1/customers", json=ADA, headers=keyed(ERP, "k")).status_code == 201
    other_body = http.post(
        "/v1/customers", json={**ADA, "name": "Grace Hopper"}, headers=keyed(ERP, "k")
    )
    other_path = http.post(
        "/v1/locations", json={"id": "berlin-dc", "name": "Berlin", "kind": "warehouse",
                               "priority": 1}, headers=keyed(ERP, "k"),
    )
    for response in (other_body, other_path):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["Idempotency-Key"]
    assert customers_recorded(database_url) == 1


def test_keys_are_scoped_per_api_key_and_the_key_itself_is_never_stored(
    http: TestClient, database_url: str
) -> None:
    erp = http.post("/v1/customers", json=ADA, headers=keyed(ERP, "same"))
    pos = http.post("/v1/customers", json=ADA, headers=keyed(POS, "same"))
    assert (erp.status_code, pos.status_code) == (201, 201)
    assert erp.json()["id"] != pos.json()["id"]
    assert customers_recorded(database_url) == 2
    scopes = {row[0] for row in stored_keys(database_url)}
    assert scopes == {hashlib.sha256(t.encode()).hexdigest() for t in ("k-erp", "k-pos")}
    with psycopg.connect(database_url) as conn:
        dump = conn.execute("SELECT string_agg(t::text, ' ') FROM idempotency_keys t").fetchone()
    assert dump is not None
    assert "k-erp" not in dump[0]
    assert "k-pos" not in dump[0]


def test_a_key_longer_than_255_characters_is_refused(http: TestClient) -> None:
    too_long = http.post("/v1/customers", json=ADA, headers=keyed(ERP, "x" * 256))
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "Idempotency-Key"
    assert http.post("/v1/customers", json=ADA, headers=keyed(ERP, "x" * 255)).status_code == 201


def test_without_a_valid_api_key_the_route_answers_401_and_nothing_is_kept(
    http: TestClient, database_url: str
) -> None:
    missing = http.post("/v1/customers", json=ADA, headers={"Idempotency-Key": "x" * 300})
    wrong = http.post("/v1/customers", json=ADA, headers=keyed({"Authorization": "Bearer no"},
                                                                "k"))
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert stored_keys(database_url) == []


def test_a_4xx_answer_is_the_answer_and_is_replayed(
    http: TestClient, database_url: str
) -> None:
    forbidden = http.post("/v1/customers", json=ADA, headers=keyed(AUDITOR, "k"))
    assert forbidden.status_code == 403
    again = http.post("/v1/customers", json=ADA, headers=keyed(AUDITOR, "k"))
    assert (again.status_code, again.content) == (403, forbidden.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [row[2:] for row in stored_keys(database_url)] == [("done", 403)]


def test_only_post_is_idempotent_by_key(http: TestClient, database_url: str) -> None:
    response = http.get("/v1/projections", headers=keyed(ERP, "k"))
    assert response.status_code == 200
    assert stored_keys(database_url) == []


def test_answers_survive_a_restart(database_url: str) -> None:
    with TestClient(build_app(database_url)) as first_process:
        first = first_process.post("/v1/customers", json=ADA, headers=keyed(ERP, "k"))
    with TestClient(build_app(database_url)) as second_process:
        again = second_process.post("/v1/customers", json=ADA, headers=keyed(ERP, "k"))
    assert (again.status_code, again.content) == (201, first.content)
    assert customers_recorded(database_url) == 1


def test_a_failed_request_gives_the_key_back_so_a_retry_runs(database_url: str) -> None:
    app = build_app(database_url)
    calls: list[str] = []

    @app.post("/test/flaky")
    def flaky() -> JSONResponse:
        calls.append("call")
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        if len(calls) == 2:
            return JSONResponse({"detail": "busy"}, status_code=503)
        return JSONResponse({"call": len(calls)}, status_code=201)

    with TestClient(app, raise_server_exceptions=False) as http:
        statuses = [
            http.post("/test/flaky", json={}, headers=keyed(ERP, "k")).status_code
            for _ in range(4)
        ]
    assert statuses == [500, 503, 201, 201]
    assert len(calls) == 3
    assert [row[2:] for row in stored_keys(database_url)] == [("done", 201)]


def test_a_duplicate_while_the_first_is_still_running_is_a_409(database_url: str) -> None:
    app = build_app(database_url)
    started, finish = threading.Event(), threading.Event()

    @app.post("/test/slow")
    def slow() -> dict[str, str]:
        started.set()
        finish.wait(10)
        return {"done": "yes"}

    with TestClient(app) as http, ThreadPoolExecutor(1) as pool:
        first = pool.submit(http.post, "/test/slow", json={}, headers=keyed(ERP, "k"))
        assert started.wait(10)
        duplicate = http.post("/test/slow", json={}, headers=keyed(ERP, "k"))
        finish.set()
        assert first.result().status_code == 200
        replay = http.post("/test/slow", json={}, headers=keyed(ERP, "k"))
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.headers["Retry-After"] == "1"
    assert (replay.status_code, replay.json()) == (200, {"done": "yes"})


def test_twenty_concurrent_duplicates_record_one_customer(
    http: TestClient, database_url: str
) -> None:
    barrier = threading.Barrier(20)

    def register() -> tuple[int, Any]:
        barrier.wait()
        response = http.post("/v1/customers", json=ADA, headers=keyed(ERP, "burst"))
        return response.status_code, response.json()

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: register(), range(20)))
    assert {status for status, _ in answers} <= {201, 409}
    created = [body for status, body in answers if status == 201]
    assert created, answers
    assert all(body == created[0] for body in created)
    assert customers_recorded(database_url) == 1


@pytest.fixture
def store(database_url: str) -> Iterator[IdempotencyStore]:
    store = IdempotencyStore(database_url, max_size=20)
    store.open()
    try:
        yield store
    finally:
        store.close()


def test_of_twenty_concurrent_claims_exactly_one_wins(store: IdempotencyStore) -> None:
    barrier = threading.Barrier(20)

    def claim(_: int) -> object:
        barrier.wait()
        return store.claim("scope", "key", b"hash")

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(claim, range(20)))
    assert sum(isinstance(o, Claimed) for o in outcomes) == 1
    assert sum(isinstance(o, Running) for o in outcomes) == 19
    assert isinstance(store.claim("scope", "key", b"other"), Mismatch)


def test_a_claim_abandoned_by_a_dead_process_is_taken_over(
    store: IdempotencyStore, database_url: str
) -> None:
    dead = store.claim("scope", "key", b"hash")
    assert isinstance(dead, Claimed)
    assert isinstance(store.claim("scope", "key", b"hash"), Running)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = created_at - interval '11 min'")
    retry = store.claim("scope", "key", b"hash")
    assert isinstance(retry, Claimed)
    store.release("scope", "key", dead.token)  # the dead request's late release: ignored
    assert isinstance(store.claim("scope", "key", b"hash"), Running)


def test_keys_are_kept_a_day_and_purged_after(
    store: IdempotencyStore, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for key, age in (("fresh", "1 min"), ("a-day-old", "24 hours"), ("old", "26 hours"),
                         ("older", "30 days")):
            conn.execute(
                "INSERT INTO idempotency_keys (scope, key, request_hash, state, status, body,"
                " headers, created_at) VALUES ('s', %s, '\\x00', 'done', 201, '', '[]',"
                " now() - %s::interval)",
                (key, age),
            )
    assert store.purge() == 2
    with TestClient(build_app(database_url)):  # the app also purges when it starts
        pass
    assert {row[1] for row in stored_keys(database_url)} == {"fresh", "a-day-old"}


def test_the_header_is_documented_on_every_post(http: TestClient) -> None:
    document = http.get("/openapi.json").json()
    posts = [item["post"] for item in document["paths"].values() if "post" in item]
    assert posts
    for post in posts:
        header = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
        assert header, post["operationId"]
        assert header[0]["in"] == "header"
        assert header[0]["schema"]["maxLength"] == 255
