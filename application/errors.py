"""Errors the application layer raises itself (not domain rules): missing things, stale
versions, read models that have not caught up. Like domain errors they carry a ``kind``
so interfaces map them to responses in one table.
"""

from __future__ import annotations

from typing import ClassVar, Literal

ApplicationErrorKind = Literal[
    "not_found", "conflict", "invalid", "precondition_failed", "unavailable"
]


class ApplicationError(Exception):
    kind: ClassVar[ApplicationErrorKind] = "conflict"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFoundError(ApplicationError):
    kind = "not_found"


class AlreadyExistsError(ApplicationError):
    """Creating something whose id is taken (API.md: creating the same id twice is a 409)."""

    kind = "conflict"


class StaleVersionError(ApplicationError):
    """``If-Match`` named a version the aggregate has moved on from."""

    kind = "precondition_failed"


class InvalidRequestError(ApplicationError):
    kind = "invalid"


class NotCaughtUpError(ApplicationError):
    """A read model has not reached the asked-for position within the wait."""

    kind = "unavailable"


class ContentionError(ApplicationError):
    """Retries on version conflicts ran out (heavy contention on the same aggregates)."""

    kind = "conflict"
