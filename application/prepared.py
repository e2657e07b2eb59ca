"""The append's INSERT, prepared once per connection and executed through libpq directly.

Every command ends in one append, and for a one-event command psycopg's ``Cursor.execute``
is a large share of the client's work: a cursor and a transformer per call, a dumper looked
up per parameter, the query converted and its preparation bookkept. The append's parameters
are always of the same few types, so here they are put into PostgreSQL's binary formats
directly, the statement is prepared under its own name on first use on each connection, and
it runs with ``PGconn.exec_prepared`` (which releases the GIL while it waits, as psycopg's
own wait does). Results come back binary too. Errors are raised as psycopg raises them.

Only for connections where that is exactly what ``Cursor.execute`` would do: in autocommit
mode, or inside a transaction already open. A connection that would have begun a
transaction implicitly keeps psycopg's path (``runs_as_is``).
"""

from __future__ import annotations

import itertools
import re
import struct
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast
from uuid import UUID

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result
from psycopg.pq import DiagnosticField

_INT8 = struct.Struct(">q")
_DUPLICATE_PREPARED = b"42P05"  # duplicate_prepared_statement


def _same(value: bytes) -> bytes:
    return value


def _uuid(value: UUID) -> bytes:
    return value.bytes


# What the append binds: ids, versions, topics and envelope text, states and keys.
_DUMPERS: dict[type, Callable[[Any], bytes]] = {
    UUID: _uuid,
    int: _INT8.pack,
    str: str.encode,  # the connection's client encoding is UTF8 (psycopg's default)
    bytes: _same,
}


def numbered(statement: str) -> str:
    """``statement`` with psycopg's ``%b`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    counter = itertools.count(1)
    return re.sub("%b", lambda _: f"${next(counter)}", statement)


def dump(params: Sequence[Any]) -> list[bytes | None]:
    """Each parameter in PostgreSQL's binary format for the type its placeholder casts to."""
    dumped: list[bytes | None] = []
    for value in params:
        if value is None:
            dumped.append(None)
            continue
        dumper = _DUMPERS.get(type(value)) or _dumper_for(type(value))
        dumped.append(dumper(value))
    return dumped


def _dumper_for(kind: type) -> Callable[[Any], bytes]:
    """The dumper of the type ``kind`` derives from (a ``StrEnum`` reason is a str), noted
    for next time; psycopg looks along the MRO the same way."""
    for base in kind.__mro__[1:]:
        dumper = _DUMPERS.get(base)
        if dumper is not None and kind is not bool:
            _DUMPERS[kind] = dumper
            return dumper
    msg = f"cannot bind a {kind.__qualname__} to the append"
    raise psycopg.ProgrammingError(msg)


def runs_as_is(conn: psycopg.Connection[Any]) -> bool:
    """Whether a statement sent on ``conn`` runs as ``Cursor.execute`` would run it: no
    implicit BEGIN to issue first."""
    return conn.autocommit or conn.pgconn.transaction_status == pq.TransactionStatus.INTRANS


class PreparedInserts:
    """INSERT ... RETURNING statements by name, prepared on each connection when first used."""

    def __init__(self) -> None:
        self._prepared: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[bytes]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def returning_int8(
        self, conn: psycopg.Connection[Any], name: bytes, statement: str, params: Sequence[Any]
    ) -> list[int]:
        """Run the statement (``$n`` placeholders, each cast to its type) named ``name``
        with ``params``; the first column (a bigint) of every row it returns."""
        values = dump(params)
        pgconn = conn.pgconn
        with conn.lock:
            with self._lock:
                known = self._prepared.setdefault(conn, set())
            if name not in known:
                prepared = pgconn.prepare(name, statement.encode())
                # Another recorder of this process may have prepared it on this connection:
                # a name is one table's one shape, so it is the same statement.
                if prepared.error_field(DiagnosticField.SQLSTATE) != _DUPLICATE_PREPARED:
                    _check(prepared, pq.ExecStatus.COMMAND_OK)
                known.add(name)
            # None is NULL here as in ``send_query_prepared`` (whose stub says so).
            result = pgconn.exec_prepared(name, cast("list[bytes]", values),
                                          [1] * len(values), 1)
        _check(result, pq.ExecStatus.TUPLES_OK)
        get = result.get_value
        return [_INT8.unpack(get(row, 0) or b"")[0] for row in range(result.ntuples)]


def _check(result: pq.abc.PGresult, expected: pq.ExecStatus) -> None:
    if result.status != expected:
        raise error_from_result(result)
