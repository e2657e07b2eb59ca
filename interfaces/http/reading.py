"""What every read-model endpoint shares: waiting for ``min_position``, and opaque cursors.

Read models answer from their live generation once it has reached the position a client
asks for (read-your-writes), and tell the client how far they have got in
``X-Evident-Position``. List cursors are opaque base64 of a small JSON list; anything a
client tampers with is a 422 on ``cursor``, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
import psycopg
from fastapi import Query, Request

from application.errors import InvalidRequestError
from projections.consistency import read_model_at

T = TypeVar("T")

MAX_LIMIT = 500

MinPosition = Annotated[
    int | None,
    Query(ge=0, description="Wait until the read model has processed this log position."),
]
Limit = Annotated[int, Query(ge=1, description="Items per page (at most 500).")]
AsOf = Annotated[
    datetime | None,
    Query(description="Answer as things were at this RFC 3339 time (with offset), "
                      "reconstructed from the event store."),
]


def read_model(
    request: Request, conn: psycopg.Connection[Any], name: str, min_position: int | None
) -> tuple[str, int]:
    """The live schema of read model ``name`` and its position, once at ``min_position``."""
    schema, cursor = read_model_at(
        conn, name, min_position, request.app.state.settings.consistency_wait
    )
    return schema, cursor.position


def position_header(position: int) -> dict[str, str]:
    return {"X-Evident-Position": str(position)}


def encode_cursor(*parts: str | int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode()


def decode_cursor(cursor: str, parse: Callable[[list[Any]], T]) -> T:
    """Decode a cursor this API issued and ``parse`` its parts; 422 if it is not one."""
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(parts, list):
            raise TypeError(parts)
        return parse(parts)
    except (ValueError, TypeError, IndexError, binascii.Error) as e:
        raise InvalidRequestError("cursor is not one this API returned", field="cursor") from e
