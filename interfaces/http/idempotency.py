"""``Idempotency-Key`` on POST (API.md § Conventions): a retried command answers, it never repeats.

Clients (storefronts, carriers, payment gateways) retry after timeouts without knowing whether
the first attempt was recorded. With an ``Idempotency-Key`` header the first attempt's answer —
status, body and headers such as ``ETag`` — is stored in PostgreSQL and replayed to every later
request with the same key and the same request, so a retry records nothing new. The same key
with a different request is the client's bug (422); a duplicate that arrives while the first is
still running gets 409 rather than waiting, so the client retries it later.

This is a pure ASGI middleware, not ``BaseHTTPMiddleware``: it must read the whole request body
to fingerprint it and then hand the same bytes to the endpoint, and capture the endpoint's
response before the client sees its last byte. Keys are claimed with a single
``INSERT ... ON CONFLICT`` before the endpoint runs, so of any number of concurrent duplicates
exactly one runs the command. Keys are scoped by a SHA-256 of the bearer token (the token itself
is never stored), so two API clients cannot see or collide with each other's keys. Answers of
5xx or an exception release the claim, so a retry can succeed; 4xx answers are the answer and
are replayed like successes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import orjson
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from application.pools import RecentFirstPool
from interfaces.http.problems import problem

log = logging.getLogger("evident.http.idempotency")

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# API.md promises at least 24 hours; an hour more means a clock or purge hiccup never cuts it short.
RETENTION_SECONDS = 25 * 3600
# A 'running' claim this old belongs to a process that died mid-request: without a takeover the
# key would answer 409 until it is purged a day later. No request runs anywhere near this long.
STALE_CLAIM_SECONDS = 600
PURGE_INTERVAL_SECONDS = 600
PURGE_BATCH = 1000
REPLAYED_HEADER = (b"idempotent-replayed", b"true")

# Distinct from the event store's schema lock, so the two creations never wait on each other.
SCHEMA_LOCK_KEY = 0x4944454D  # "IDEM"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    state        text        NOT NULL CHECK (state IN ('running', 'done')),
    status       int,
    body         bytea,
    headers      jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at_idx ON idempotency_keys (created_at);
"""

CLAIM_SQL = """
INSERT INTO idempotency_keys AS k (scope, key, request_hash, state, created_at)
VALUES (%(scope)s, %(key)s, %(hash)s, 'running', clock_timestamp())
ON CONFLICT (scope, key) DO UPDATE SET created_at = EXCLUDED.created_at
    WHERE k.state = 'running' AND k.request_hash = EXCLUDED.request_hash
      AND k.created_at < clock_timestamp() - make_interval(secs => %(stale)s)
RETURNING created_at
"""

PURGE_SQL = """
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys
    WHERE created_at < now() - make_interval(secs => %(retention)s)
    LIMIT %(batch)s
))
"""


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to a key, replayed byte for byte."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """This request owns the key; ``token`` tells its claim apart from a later takeover."""

    token: datetime


@dataclass(frozen=True)
class Running:
    """Another request with this key has not answered yet."""


@dataclass(frozen=True)
class Mismatch:
    """The key was first used for a different request."""


Outcome = Claimed | Running | Mismatch | StoredResponse


class IdempotencyStore:
    """The ``idempotency_keys`` table behind a small pool of its own.

    Its own pool, so replays and claims never queue behind slow read-model queries. All
    methods block; the middleware calls them in worker threads.
    """

    def __init__(
        self,
        database_url: str,
        *,
        max_size: int = 4,
        retention_seconds: float = RETENTION_SECONDS,
        stale_claim_seconds: float = STALE_CLAIM_SECONDS,
        purge_interval_seconds: float = PURGE_INTERVAL_SECONDS,
    ) -> None:
        self.database_url = database_url
        self.max_size = max_size
        self.retention_seconds = retention_seconds
        self.stale_claim_seconds = stale_claim_seconds
        self.purge_interval_seconds = purge_interval_seconds
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    def open(self) -> None:
        """Open the pool, create the table if needed, and drop expired keys."""
        pool: ConnectionPool[psycopg.Connection[Any]] = RecentFirstPool(
            self.database_url, min_size=1, max_size=self.max_size,
            kwargs={"autocommit": True}, open=False, name="idempotency",
        )
        pool.open()
        self._pool = pool
        with pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(SCHEMA_SQL)
        self.purge()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        if self._pool is None:
            msg = "the idempotency store is not open (is the app running inside its lifespan?)"
            raise RuntimeError(msg)
        return self._pool

    def claim(self, scope: str, key: str, request_hash: bytes) -> Outcome:
        """Claim ``key`` for this request, or say why not (running, mismatch, answered)."""
        self._maybe_purge()
        params = {"scope": scope, "key": key, "hash": request_hash,
                  "stale": self.stale_claim_seconds}
        with self.pool.connection() as conn:
            # A row can vanish between the INSERT and the SELECT when its first request failed
            # and released it; then the key is free again and the next round claims it.
            for _ in range(5):
                claimed = conn.execute(CLAIM_SQL, params).fetchone()
                if claimed is not None:
                    return Claimed(claimed[0])
                row = conn.execute(
                    "SELECT request_hash, state, status, headers, body FROM idempotency_keys"
                    " WHERE scope = %s AND key = %s",
                    (scope, key),
                ).fetchone()
                if row is None:
                    continue
                stored_hash, state, status, headers, body = row
                if bytes(stored_hash) != request_hash:
                    return Mismatch()
                if state == "running":
                    return Running()
                return StoredResponse(
                    status=int(status),
                    headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
                    body=bytes(body),
                )
        return Running()

    def complete(self, scope: str, key: str, token: datetime, response: StoredResponse) -> None:
        """Store the answer under the claim ``token`` (a taken-over claim is left alone)."""
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in response.headers]
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET state = 'done', status = %s, headers = %s, body = %s"
                " WHERE scope = %s AND key = %s AND created_at = %s AND state = 'running'",
                (response.status, Jsonb(headers), response.body, scope, key, token),
            )

    def release(self, scope: str, key: str, token: datetime) -> None:
        """Forget a claim whose request failed, so a retry runs the command afresh."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM idempotency_keys"
                " WHERE scope = %s AND key = %s AND created_at = %s AND state = 'running'",
                (scope, key, token),
            )

    def purge(self) -> int:
        """Delete keys past retention, a bounded batch at a time; returns how many went."""
        deleted = 0
        with self.pool.connection() as conn:
            while True:
                cursor = conn.execute(
                    PURGE_SQL, {"retention": self.retention_seconds, "batch": PURGE_BATCH}
                )
                deleted += cursor.rowcount
                if cursor.rowcount < PURGE_BATCH:
                    return deleted

    def _maybe_purge(self) -> None:
        # Opportunistic and rare: one caller at a time, at most every purge interval, and a
        # failing purge never fails the request that happened to trigger it.
        now = time.monotonic()
        if now < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = now + self.purge_interval_seconds
            self.purge()
        except psycopg.Error:
            log.exception("purging expired idempotency keys failed; will retry later")
        finally:
            self._purge_lock.release()


def document_header(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the optional ``Idempotency-Key`` header to every POST in an OpenAPI document.

    API.md promises that everything in it is in ``/openapi.json``; the header is handled here,
    not by any route, so FastAPI cannot document it by itself. Safe to apply twice.
    """
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Retrying with the same key and request returns the first answer and records"
            " nothing new; the same key with another request is 422; while the first is"
            " still running, 409. Scoped to the API key; kept at least 24 hours."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }
    for item in openapi.get("paths", {}).values():
        post = item.get("post")
        if post is None:
            continue
        parameters = post.setdefault("parameters", [])
        if not any(p.get("name") == HEADER and p.get("in") == "header" for p in parameters):
            parameters.append(parameter)
    return openapi


def request_fingerprint(scope: Scope, body: bytes) -> bytes:
    """What makes two requests "the same": method, path, query, ``If-Match`` and the body.

    A JSON body is canonicalised (keys sorted, whitespace dropped) so a client that
    re-serialises its retry is not told it sent a different request.
    """
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    except TypeError:  # integers beyond 64 bits: compare the raw bytes
        canonical = body
    digest = hashlib.sha256()
    headers = Headers(scope=scope)
    for part in (
        scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""),
        (headers.get("if-match") or "").encode("latin-1"),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(canonical)
    return digest.digest()


def _key_scope(authorization: str | None, api_keys: Iterable[str]) -> str | None:
    """SHA-256 of the bearer token if it is a configured key, else None (the route says 401)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if not any(hmac.compare_digest(k.encode(), token.encode()) for k in api_keys):
        return None
    return hashlib.sha256(token.encode()).hexdigest()


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class IdempotencyMiddleware:
    """Claim, run once, store, replay (see the module docstring)."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore, api_keys: Iterable[str]) -> None:
        self.app = app
        self.store = store
        self.api_keys = tuple(api_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        key_scope = None if key is None else _key_scope(headers.get("authorization"),
                                                         self.api_keys)
        if key is None or key_scope is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            message = f"must be 1 to {MAX_KEY_LENGTH} printable characters"
            await problem(
                422, f"{HEADER}: {message}", errors=[{"field": HEADER, "message": message}]
            )(scope, receive, send)
            return

        body = await _read_body(receive)
        if body is None:
            return
        outcome = await anyio.to_thread.run_sync(
            self.store.claim, key_scope, key, request_fingerprint(scope, body)
        )
        if isinstance(outcome, StoredResponse):
            await _replay(outcome, send)
        elif isinstance(outcome, Mismatch):
            message = "this key was already used for a different request"
            await problem(
                422, f"{HEADER}: {message}", errors=[{"field": HEADER, "message": message}]
            )(scope, receive, send)
        elif isinstance(outcome, Running):
            await problem(
                409, f"a request with this {HEADER} is still running; retry shortly",
                headers={"Retry-After": "1"},
            )(scope, receive, send)
        else:
            await self._run_once(scope, receive, send, body, key_scope, key, outcome.token)

    async def _run_once(
        self, scope: Scope, receive: Receive, send: Send, body: bytes,
        key_scope: str, key: str, token: datetime,
    ) -> None:
        body_sent = False

        async def replay_body() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect is left

        status = 500
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        settled = False

        async def capture(message: Message) -> None:
            nonlocal status, response_headers, settled
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Settled before the last byte goes out: a client that retries the moment
                    # it has the answer gets the replay, not a 409 for a claim still running.
                    # (Background tasks run after this, as they would without the middleware.)
                    answer = StoredResponse(status, response_headers, b"".join(chunks))
                    await self._settle(key_scope, key, token, answer)
                    settled = True
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            if not settled:
                with anyio.CancelScope(shield=True):
                    await self._release(key_scope, key, token)
            raise
        if not settled:
            await self._release(key_scope, key, token)

    async def _settle(
        self, key_scope: str, key: str, token: datetime, answer: StoredResponse
    ) -> None:
        """Store a 2xx–4xx answer for replay; forget the claim of a 5xx so a retry runs."""
        if answer.status >= 500:
            await self._release(key_scope, key, token)
            return
        try:
            await anyio.to_thread.run_sync(self.store.complete, key_scope, key, token, answer)
        except Exception:
            log.exception("could not store the answer to an idempotent request")
            await self._release(key_scope, key, token)

    async def _release(self, key_scope: str, key: str, token: datetime) -> None:
        try:
            await anyio.to_thread.run_sync(self.store.release, key_scope, key, token)
        except Exception:
            # The claim then expires as stale after STALE_CLAIM_SECONDS; nothing is lost.
            log.exception("could not release an idempotency claim")


async def _replay(stored: StoredResponse, send: Send) -> None:
    await send({
        "type": "http.response.start",
        "status": stored.status,
        "headers": [*stored.headers, REPLAYED_HEADER],
    })
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})
