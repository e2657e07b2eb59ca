"""``DirectCommandRoute`` answers every request exactly as FastAPI's own handling would.

Twin apps serve the same endpoint (shaped like placing an order) on the same error handlers,
one on a ``DirectCommandRoute`` and one on a plain ``CommandRoute``; whatever is sent, body,
content type or key, both must give the same status, content type and bytes. Well-formed
requests must take the short way, and nothing else may. See ``interfaces.http.direct``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from application.envelope import Envelope
from interfaces.http import problems
from interfaces.http.admission import CommandRoute, command_slots
from interfaces.http.app import api_routers
from interfaces.http.auth import parse_api_keys
from interfaces.http.deps import OMS, WriteEnvelope, envelope
from interfaces.http.direct import DirectCommandRoute
from interfaces.http.schemas import OrderIn
from tests.http.conftest import ADDRESS, API_KEYS

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

VALID = {
    "customer_id": "6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b", "channel": "web", "currency": "EUR",
    "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "19.99", "tax_rate": "0.19"},
              {"sku": "SKU-2", "quantity": 2, "unit_price": "5.00"}],
    "shipping_address": ADDRESS, "shipping_method": "standard",
}
KEYS = {"client": "Bearer client-key", "agent": "Bearer agent-key",
        "auditor (may not write)": "Bearer auditor-key", "unknown": "Bearer nobody",
        "not bearer": "Basic client-key"}
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON",
                 "application/merge-patch+json", "text/plain", "application/x-www-form-urlencoded"]


async def place(body: OrderIn, oms: OMS, envelope: WriteEnvelope) -> Response:
    """What the route was given, as the answer: any difference in the input shows."""
    return Response(json.dumps({"order": body.model_dump(mode="json"), "service": oms,
                                "actor": envelope.actor, "role": envelope.role}),
                    201, media_type="application/json")


def _app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=CommandRoute)
    router.add_api_route("/v1/orders", place, methods=["POST"], status_code=201,
                         route_class_override=route_class)
    app = FastAPI()
    problems.install(app)
    app.include_router(router)
    app.state.api_keys = parse_api_keys(API_KEYS)
    app.state.oms = "the service"
    app.state.command_slots = command_slots(4)
    return app


class _Watched(DirectCommandRoute):
    """Notes each request that went FastAPI's way."""

    fastapi_way: list[bytes] = []

    def plain_handler(self) -> Handler:
        handler = super().plain_handler()

        async def watched(request: Request) -> Response:
            self.fastapi_way.append(await request.body())
            return await handler(request)

        return watched


def _post(http: TestClient, body: bytes, content_type: str | None, key: str | None,
          path: str = "/v1/orders") -> tuple[int, bytes, str | None]:
    headers = {name: value for name, value in
               (("Content-Type", content_type), ("Authorization", key)) if value is not None}
    answer = http.post(path, content=body, headers=headers)
    return answer.status_code, answer.content, answer.headers.get("content-type")


@pytest.fixture
def twins() -> Any:
    _Watched.fastapi_way = []
    with TestClient(_app(_Watched)) as direct, TestClient(_app(CommandRoute)) as plain:
        yield direct, plain


def test_a_well_formed_order_takes_the_short_way_and_is_answered_the_same(twins: Any) -> None:
    direct, plain = twins
    body = json.dumps(VALID).encode()
    for content_type in ("application/json", "application/json; charset=utf-8"):
        answer = _post(direct, body, content_type, KEYS["client"])
        assert answer == _post(plain, body, content_type, KEYS["client"])
        assert answer[0] == 201
        assert orjson.loads(answer[1])["actor"] == "erp"
    assert _Watched.fastapi_way == []


ORDER = json.dumps(VALID).encode()
EUR_IN_SMALL_LETTERS = json.dumps({**VALID, "currency": "eur"}).encode()


@pytest.mark.parametrize(("body", "content_type", "key", "status", "way"), [
    (ORDER, "application/json", None, 401, "short"),
    (ORDER, "application/json", KEYS["auditor (may not write)"], 403, "short"),
    (EUR_IN_SMALL_LETTERS, "application/json", KEYS["client"], 422, "FastAPI's"),
    (EUR_IN_SMALL_LETTERS, "application/json", None, 401, "FastAPI's"),
    (b'{"customer_id": ', "application/json", None, 422, "FastAPI's"),  # before the key
    (ORDER, "text/plain", KEYS["client"], 422, "FastAPI's"),
    (ORDER, None, KEYS["client"], 422, "FastAPI's"),
    (b"", "application/json", KEYS["client"], 422, "FastAPI's"),
    (b"\xef\xbb\xbf" + ORDER, "application/json", KEYS["client"], 201, "FastAPI's"),
    (json.dumps(VALID).encode("utf-16"), "application/json", KEYS["client"], 201, "FastAPI's"),
    (json.dumps({**VALID, "shipping_method": "\ud800"}).encode(), "application/json",
     KEYS["client"], 201, "FastAPI's"),
])
def test_what_the_short_way_does_not_take_goes_fastapis_way(
    twins: Any, body: bytes, content_type: str | None, key: str | None, status: int, way: str,
) -> None:
    direct, plain = twins
    answer = _post(direct, body, content_type, key)
    assert answer == _post(plain, body, content_type, key)
    assert answer[0] == status
    assert _Watched.fastapi_way == ([] if way == "short" else [body])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)
likely_values: st.SearchStrategy[Any] = st.sampled_from([
    "", "  ", "EUR", "eur", "web", "fax", "DE", "de", "0", "0.19", "1.5", "19.99", "-1",
    "19.999999", "19.9999999", "6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b", "not-a-uuid",
    "6F1C2B9E3A4D4E5F8A7B9C0D1E2F3A4B", 0, 1, -1, 2, 1.0, 1_000_000, 1_000_001, True, None,
    [], {}, " padded ",
])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A place-order body with a few of its fields, lines or address fields changed."""
    order: dict[str, Any] = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(["order", "line", "address"]))
        where: dict[str, Any]
        lines = order.get("lines")
        dict_lines = [line for line in lines if isinstance(line, dict)] \
            if isinstance(lines, list) else []
        if target == "line" and dict_lines:  # a line an earlier change left a dict
            where = dict_lines[draw(st.integers(0, len(dict_lines) - 1))]
        elif target == "address" and isinstance(order.get("shipping_address"), dict):
            where = order["shipping_address"]
        else:
            where = order
        field = draw(st.sampled_from([*where, "id", "unknown"]))
        change = draw(st.sampled_from(["set", "set", "drop", "anything"]))
        if change == "drop":
            where.pop(field, None)
        else:
            where[field] = draw(likely_values if change == "set" else json_values)
    return json.dumps(order, ensure_ascii=draw(st.booleans())).encode()


@pytest.fixture(scope="module")
def unwatched_twins() -> Any:
    with TestClient(_app(DirectCommandRoute)) as direct, TestClient(_app(CommandRoute)) as plain:
        yield direct, plain


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(),  # half of them sent as clients send orders, half any other way
       content_type=st.just("application/json") | st.sampled_from([*CONTENT_TYPES, None]),
       key=st.just(KEYS["client"]) | st.sampled_from([*KEYS.values(), None]))
def test_whatever_is_sent_both_ways_answer_alike(
    unwatched_twins: Any, body: bytes, content_type: str | None, key: str | None,
) -> None:
    direct, plain = unwatched_twins
    answer = _post(direct, body, content_type, key)
    event(f"answered {answer[0]}")
    assert answer == _post(plain, body, content_type, key)


def _refused(path: str, endpoint: Callable[..., Any], message: str) -> None:
    router = APIRouter()
    with pytest.raises(TypeError, match=message):
        router.add_api_route(path, endpoint, methods=["POST"],
                             route_class_override=DirectCommandRoute)


def test_a_route_that_needs_fastapis_way_is_refused_when_it_is_built() -> None:
    async def with_a_path_parameter(thing: str, body: OrderIn) -> Response:
        return Response()

    def sync(body: OrderIn) -> Response:
        return Response()

    async def answers_a_dict(body: OrderIn) -> dict[str, str]:
        return {}

    async def needs_a_header(request: Request, x_thing: str) -> str:
        return x_thing

    async def with_a_dependency_of_its_own(
        body: OrderIn, thing: Any = Depends(needs_a_header),  # noqa: B008
    ) -> Response:
        return Response()

    _refused("/things/{thing}", with_a_path_parameter, "one body and nothing else")
    _refused("/things", sync, "must be async")
    _refused("/things", answers_a_dict, "must be declared to return a Response")
    _refused("/things", with_a_dependency_of_its_own, "async function of the request alone")


def test_placing_an_order_is_the_api_s_direct_route() -> None:
    direct = [(sorted(route.methods or ()), route.path) for router in api_routers()
              for route in router.routes if isinstance(route, DirectCommandRoute)]
    assert direct == [(["POST"], "/v1/orders")]


def test_dependencies_of_the_including_router_are_taken_the_short_way_too() -> None:
    """A router included with dependencies of its own: each runs on the short way as well."""
    seen: list[str] = []

    async def audited(request: Request) -> None:
        seen.append(request.url.path)

    router = APIRouter(route_class=CommandRoute)
    router.add_api_route("/v1/orders", place, methods=["POST"], status_code=201,
                         route_class_override=_Watched)
    app = _app(CommandRoute)
    app.include_router(router, prefix="/audited", dependencies=[Depends(audited)])
    _Watched.fastapi_way = []
    with TestClient(app) as http:
        answer = _post(http, ORDER, "application/json", KEYS["client"], "/audited/v1/orders")
    assert answer[0] == 201
    assert seen == ["/audited/v1/orders"]
    assert _Watched.fastapi_way == []


def test_an_overridden_dependency_goes_fastapis_way() -> None:
    """``app.dependency_overrides`` (how tests stand in for a dependency) is honoured."""

    async def someone_else(request: Request) -> Envelope:
        return Envelope(actor="stand-in", role="client", channel="api")

    app = _app(_Watched)
    app.dependency_overrides[envelope] = someone_else
    _Watched.fastapi_way = []
    with TestClient(app) as http:
        answer = _post(http, ORDER, "application/json", None)  # no key: the stand-in admits
    assert answer[0] == 201
    assert orjson.loads(answer[1])["actor"] == "stand-in"
    assert _Watched.fastapi_way == [ORDER]


COUNTED: list[str] = []


async def counted(request: Request) -> int:
    COUNTED.append(request.url.path)
    return len(COUNTED)


async def place_counted(body: OrderIn, count: Annotated[int, Depends(counted)]) -> Response:
    return Response(str(count), 201)


def test_a_dependency_declared_twice_runs_once_as_on_fastapis_way() -> None:
    for route_class in (DirectCommandRoute, CommandRoute):
        COUNTED.clear()
        router = APIRouter()
        router.add_api_route("/v1/orders", place_counted, methods=["POST"],
                             dependencies=[Depends(counted)], route_class_override=route_class)
        app = _app(CommandRoute)
        app.include_router(router, prefix="/counted")
        with TestClient(app) as http:
            answer = _post(http, ORDER, "application/json", None, "/counted/v1/orders")
        assert (answer[0], answer[1], COUNTED) == (201, b"1", ["/counted/v1/orders"]), route_class
