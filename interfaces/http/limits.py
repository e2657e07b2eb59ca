"""Request size limit (API.md § Conventions: body too large is 413).

No command needs more than a few kilobytes (an order has at most 500 lines), so anything over
1 MiB is a mistake or an attack, and is refused before it is buffered, parsed or fingerprinted
for idempotency. A declared ``Content-Length`` over the limit is answered at once without
reading a byte of the body; a body without one (chunked) is counted as it streams and refused
the moment it passes the limit, so a client cannot get round the check by not declaring a length.

A pure ASGI middleware, outermost of ours, so every layer inside it sees only bodies within the
limit. The error raised from ``receive`` is a 413 ``HTTPException``: FastAPI re-raises those
from body parsing and the app's problem handler renders it; a layer that lets it escape (the
idempotency middleware reads bodies itself) gets it answered here.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interfaces.http.problems import problem

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLargeError(HTTPException):
    """The request body passed the limit while it was being received."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _detail(limit))


def _detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes ({limit // 1024} KiB)"


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a 413 problem."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await problem(413, _detail(self.max_bytes))(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if response_started:
                raise  # half a response is out; only the server can end the connection now
            await problem(413, _detail(self.max_bytes))(scope, receive, send)
