"""API keys and roles (API.md: ``OMS_API_KEYS`` holds ``actor:role:key`` triples).

The key's actor and role become the envelope of every event a request causes, so who did
what is recorded by the log itself, not by a logging side channel.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

ROLES = ("client", "agent", "auditor", "analyst", "admin")
WRITERS = frozenset({"client", "agent", "admin"})
READERS = frozenset(ROLES)
AUDITORS = frozenset({"auditor", "admin"})
REBUILDERS = frozenset({"analyst", "admin"})


class ApiKeyConfigError(ValueError):
    """``OMS_API_KEYS`` is malformed; the server refuses to start rather than guess."""


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str
    key: str

    @property
    def masked(self) -> bool:
        """Analysts see personal data masked."""
        return self.role == "analyst"


def parse_api_keys(value: str) -> dict[str, Principal]:
    """``"ana:agent:k1,erp:client:k2"`` → {key: Principal}; every entry is checked."""
    keys: dict[str, Principal] = {}
    for number, entry in enumerate(filter(None, (e.strip() for e in value.split(","))), 1):
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts):
            msg = f"OMS_API_KEYS entry {number} must be actor:role:key, got {entry!r}"
            raise ApiKeyConfigError(msg)
        actor, role, key = parts
        if role not in ROLES:
            msg = f"OMS_API_KEYS entry {number}: role must be one of {ROLES}, got {role!r}"
            raise ApiKeyConfigError(msg)
        if key in keys:
            msg = f"OMS_API_KEYS entry {number}: the key of {actor!r} is used twice"
            raise ApiKeyConfigError(msg)
        keys[key] = Principal(actor, role, key)
    return keys


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def principal_for(keys: dict[str, Principal], authorization: str | None) -> Principal:
    """The principal whose key is the bearer token of ``authorization``; 401 otherwise."""
    if not authorization:
        raise _unauthorized("missing Authorization: Bearer <key> header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Authorization must be 'Bearer <key>'")
    for key, principal in keys.items():
        if hmac.compare_digest(key.encode(), token.strip().encode()):
            return principal
    raise _unauthorized("unknown API key")


def admit(principal: Principal, roles: frozenset[str]) -> Principal:
    """``principal`` if its role is one of ``roles``; 403 otherwise."""
    if principal.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise HTTPException(403, f"role {principal.role!r} may not do this ({allowed} may)")
    return principal


async def authenticate(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The caller's principal from its bearer key.

    ``async`` although it never awaits: FastAPI runs a plain ``def`` dependency in its thread
    pool, a hand-off that costs more than the check; this one does not block, so it runs on
    the event loop. The same goes for every cheap dependency in ``interfaces.http``.
    """
    return principal_for(request.app.state.api_keys, authorization)


def require(roles: frozenset[str]) -> object:
    """A dependency that admits only ``roles``: 401 without a valid key, 403 for other roles."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return admit(principal, roles)

    return Depends(check)
