"""Every route × every kind of caller against API.md's authorization rules.

The routes come from the app itself (``create_app``), so an endpoint added later is checked
without anyone remembering to add it here; the rules are written out from API.md rather than
imported from ``auth``, so the code cannot agree with itself by construction:

* no key, an unknown key or a malformed header: 401 on every ``/v1`` route;
* ``/healthz``, ``/readyz``, ``/openapi.json`` and ``/docs`` need no key;
* writes (POST, PUT, PATCH, DELETE): client, agent, admin — 403 for auditor and analyst;
* rebuilds (``POST /v1/projections/{name}/rebuild``): analyst and admin only;
* audit endpoints (``/v1/audit/...``): auditor and admin only;
* every other read: every role.

"Allowed" means neither 401 nor 403: with dummy ids and empty bodies an allowed call may well
be a 404 or a 422 (or a 503 from a read model that was never built), which is fine here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.testclient import TestClient

from application.settings import Settings
from interfaces.http.app import create_app

ROLES = ("client", "agent", "auditor", "analyst", "admin")
KEYS = ",".join(f"{role}-actor:{role}:key-{role}" for role in ROLES)
EVERYONE = frozenset(ROLES)
WRITERS = frozenset({"client", "agent", "admin"})
AUDITORS = frozenset({"auditor", "admin"})
REBUILDERS = frozenset({"analyst", "admin"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REBUILD = re.compile(r"/v1/projections/\{[^/]+\}/rebuild")
# API.md names the first four; the last two come with /docs (FastAPI's docs UI needs them).
PUBLIC = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                    "/redoc", "/console", "/console/static/{name}"})
# The console's own read helpers need a key like /v1 (the page sends the signed-in key).
CONSOLE_API = "/console/api/"
DUMMY_ID = "00000000-0000-4000-8000-000000000000"  # a UUID, and a fine SKU, name or number
NOT_A_KEY: dict[str, dict[str, str]] = {
    "no key": {},
    "unknown key": {"Authorization": "Bearer not-a-configured-key"},
    "not bearer": {"Authorization": "Basic key-admin"},
}


def allowed_roles(method: str, path: str) -> frozenset[str]:
    """Who may call ``method path`` according to API.md (§ Conventions: Auth)."""
    if path == "/v1/audit" or path.startswith("/v1/audit/"):
        return AUDITORS
    if method == "POST" and REBUILD.fullmatch(path):
        return REBUILDERS
    if method in WRITE_METHODS:
        return WRITERS
    return EVERYONE


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, HEAD aside.

    Newer FastAPI keeps included routers as lazy entries in ``app.routes``; its
    ``iter_route_contexts`` flattens them. Older ones list the routes directly.
    """
    iter_contexts: Callable[[Any], Any] | None = getattr(
        fastapi_routing, "iter_route_contexts", None
    )
    routes: Any = iter_contexts(app.routes) if iter_contexts else app.routes
    found = {
        (method, route.path)
        for route in routes
        for method in (getattr(route, "methods", None) or ())
        if method != "HEAD"
    }
    return sorted(found, key=lambda mp: (mp[1], mp[0]))


def _collect() -> list[tuple[str, str]]:
    # Building the app opens nothing (pools open in its lifespan), so collection needs no
    # database; the test below checks the running app serves exactly these routes.
    return endpoints(create_app(Settings(OMS_API_KEYS=KEYS), "postgresql://collect-only"))


ROUTES = _collect()
V1 = [(m, p) for m, p in ROUTES if p.startswith("/v1/") or p == "/v1"]
CONSOLE = [(m, p) for m, p in ROUTES if p.startswith(CONSOLE_API)]
OTHERS = [(m, p) for m, p in ROUTES if (m, p) not in V1 and (m, p) not in CONSOLE]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", DUMMY_ID, path)


@pytest.fixture(scope="module")
def app(make_database: Callable[[], str]) -> FastAPI:
    url = make_database()
    return create_app(Settings(DATABASE_URL=url, OMS_API_KEYS=KEYS), url)


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def call(http: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    body: dict[str, Any] | None = {} if method in WRITE_METHODS else None
    return http.request(method, concrete(path), headers=headers, json=body)


def test_the_running_app_serves_the_routes_checked_here(app: FastAPI, http: TestClient) -> None:
    assert endpoints(app) == ROUTES
    assert ("POST", "/v1/orders") in V1
    assert ("POST", "/v1/projections/{name}/rebuild") in V1


def test_every_route_outside_v1_is_a_documented_public_one() -> None:
    assert {path for _, path in OTHERS} <= PUBLIC
    assert {"/healthz", "/readyz", "/openapi.json", "/docs"} <= {path for _, path in OTHERS}


@pytest.mark.parametrize(("method", "path"), OTHERS, ids=[f"{m} {p}" for m, p in OTHERS])
def test_public_routes_need_no_key(http: TestClient, method: str, path: str) -> None:
    response = call(http, method, path, {})
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(("method", "path"), CONSOLE, ids=[f"{m} {p}" for m, p in CONSOLE])
def test_console_helpers_need_a_key(http: TestClient, method: str, path: str) -> None:
    for headers in NOT_A_KEY.values():
        assert call(http, method, path, headers).status_code == 401


@pytest.mark.parametrize(("method", "path"), V1, ids=[f"{m} {p}" for m, p in V1])
def test_v1_route_admits_exactly_the_roles_api_md_names(
    http: TestClient, method: str, path: str
) -> None:
    wrong: list[str] = []
    for caller, headers in NOT_A_KEY.items():
        response = call(http, method, path, headers)
        if response.status_code != 401:
            wrong.append(f"{caller}: {response.status_code}, expected 401")
        elif response.headers.get("content-type") != "application/problem+json":
            wrong.append(f"{caller}: 401 is not a problem+json")
    allowed = allowed_roles(method, path)
    for role in ROLES:
        response = call(http, method, path, {"Authorization": f"Bearer key-{role}"})
        if role in allowed and response.status_code in (401, 403):
            wrong.append(f"{role}: {response.status_code}, expected to be let in")
        if role not in allowed and response.status_code != 403:
            wrong.append(f"{role}: {response.status_code}, expected 403")
    assert not wrong, f"{method} {path} (allowed: {sorted(allowed)}): " + "; ".join(wrong)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/orders", WRITERS),
        ("PUT", "/v1/inventory/{sku}/safety-stock", WRITERS),
        ("GET", "/v1/orders", EVERYONE),
        ("POST", "/v1/projections/{name}/rebuild", REBUILDERS),
        ("GET", "/v1/audit/events", AUDITORS),
        ("GET", "/v1/audit/verify", AUDITORS),
        ("POST", "/v1/audit/exports", AUDITORS),
    ],
)
def test_the_rules_read_as_api_md_says(method: str, path: str, expected: frozenset[str]) -> None:
    assert allowed_roles(method, path) == expected
