"""``DirectCommandRoute``: a command whose well-formed requests skip FastAPI's request handling.

For every request FastAPI parses the body with ``json.loads`` (after checking its content
type through ``email.message``), solves the route's dependency tree, validates the parsed
dict with pydantic and only then calls the endpoint. For a place-order that was a fifth of
the CPU the whole request took. Measured by driving the ASGI app in-process (four orders
at a time, 3,000 each, in alternating runs): 949-1,187 us per order on FastAPI's way,
782-943 us on the short way below. Served by ``oms serve`` under ``wrk`` (32 connections,
``bench/http.py``'s load, alternating runs of three 4 s windows): 691-945 orders/s
before, 890-1,081 with it.

A ``DirectCommandRoute`` tries the short way first: a JSON content type; the body
validated straight from its bytes (pydantic-core's JSON mode, one pass); the route's
dependencies, each a plain ``async def`` of the request, awaited in order; the endpoint
called. A request the short way does not take, because of its content type or because its
body does not validate, goes FastAPI's way instead, so every error answer is FastAPI's own,
word for word. Taking the short way changes no outcome: what pydantic's JSON mode accepts
its Python mode accepts too from ``json.loads``'s output, with the same values (a lone
surrogate, a byte-order mark or an encoding other than UTF-8 fails the JSON mode and goes
FastAPI's way), and with the body valid FastAPI calls the same dependencies in the same
order, their 401 and 403 included (each once; a request for which one is overridden, through
``app.dependency_overrides``, goes FastAPI's way). ``tests/http/test_direct_route.py`` holds
both ways to the same answers, byte for byte. The route is declared, admitted
(``CommandRoute``) and documented as any other.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi import Request, Response
from pydantic import TypeAdapter, ValidationError

from interfaces.http.admission import CommandRoute

JSON_MEDIA_TYPE = "application/json"


class DirectCommandRoute(CommandRoute):
    """A command route whose endpoint takes one JSON body and request-only dependencies.

    Refused when built for any other endpoint (path, query, header or cookie parameters,
    dependencies with their own parameters, a sync endpoint, one not declared to return a
    ``Response``): those need FastAPI's way.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        fastapi_way = self.plain_handler()
        # Where a router is included with dependencies of its own, FastAPI builds the
        # handler once per inclusion, for the route as included (its "effective" context):
        # the short way takes the same dependencies as FastAPI's way then.
        route: Any = self
        effective = getattr(fastapi.routing, "_effective_route_context_var", None)
        context = effective.get() if effective is not None else None
        if context is not None and context.original_route is self:
            route = context
        short_way = _short_way(route.dependant, route.body_field, route.endpoint, fastapi_way,
                               route.dependency_overrides_provider)
        return self.admitted(short_way)


def _short_way(
    dependant: Any, body_field: Any, endpoint: Callable[..., Any],
    fastapi_way: Callable[[Request], Coroutine[Any, Any, Response]],
    overrides_provider: Any,
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    name = endpoint.__name__
    if dependant.path_params or dependant.query_params or dependant.header_params \
            or dependant.cookie_params or len(dependant.body_params) != 1 or body_field is None:
        raise TypeError(f"{name}: a direct route takes one body and nothing else from the request")
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{name}: a direct route's endpoint must be async")
    # Checked here, not after the call: by then the command has been recorded.
    returns = inspect.signature(endpoint, eval_str=True).return_annotation
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        raise TypeError(f"{name}: a direct route's endpoint must be declared to return a"
                        " Response (the short way sends it as it is)")
    # (argument or None, call, cached): a router's or an inclusion's own dependencies are run
    # for their effect (a check that raises, say) and give the endpoint nothing; one declared
    # twice runs once unless it says otherwise (``use_cache``), as on FastAPI's way.
    dependencies: list[tuple[str | None, Callable[[Request], Awaitable[Any]], bool]] = []
    for dependency in dependant.dependencies:
        call = dependency.call
        if (call is None or not inspect.iscoroutinefunction(call)
                or list(inspect.signature(call).parameters) != [dependency.request_param_name]
                or dependency.dependencies):
            raise TypeError(f"{name}: a direct route's dependencies must each be an async"
                            " function of the request alone")
        dependencies.append((dependency.name, call, dependency.use_cache))
    calls = {call for _, call, _ in dependencies}
    body_name = dependant.body_params[0].name
    body_type: TypeAdapter[Any] = TypeAdapter(body_field.field_info.annotation)

    async def handler(request: Request) -> Response:
        content_type = request.headers.get("content-type")
        # A dependency overridden (``app.dependency_overrides``, in tests say) is FastAPI's
        # to resolve.
        overrides = getattr(overrides_provider, "dependency_overrides", None)
        if content_type is not None \
                and content_type.partition(";")[0].strip().lower() == JSON_MEDIA_TYPE \
                and not (overrides and calls & overrides.keys()):
            body = await request.body()
            try:
                value = body_type.validate_json(body)
            except ValidationError:
                pass  # FastAPI's way answers it, in its own words
            else:
                arguments = {body_name: value}
                solved: dict[Callable[[Request], Awaitable[Any]], Any] = {}
                for argument, call, cached in dependencies:
                    if cached and call in solved:
                        given = solved[call]
                    else:
                        given = solved[call] = await call(request)
                    if argument is not None:
                        arguments[argument] = given
                response: Response = await endpoint(**arguments)
                return response
        return await fastapi_way(request)

    return handler
