"""Writing a batch's rows into a read-model table in one statement.

``executemany`` sends a statement per row (pipelined, but psycopg still handles each row in
Python), which in a rebuild costs more than computing the row. ``insert_rows`` sends each
column as one array instead, in binary (a text array would escape every byte of every
value), and lets PostgreSQL take them apart with ``unnest``: one statement per table per
batch, whatever its size. Columns of type ``jsonb`` travel as text and are cast on arrival.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql


def insert_rows(
    cur: psycopg.Cursor[Any],
    schema: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    on_conflict: str = "",
) -> None:
    """Insert ``rows`` into ``schema.table``; ``columns`` are ``(name, PostgreSQL type)`` in
    row order; ``on_conflict`` is the statement's ``ON CONFLICT ...`` clause, if any."""
    if not rows:
        return
    names = [sql.Identifier(name) for name, _ in columns]
    arrays = sql.SQL(", ").join(
        sql.SQL("%b::{}[]").format(sql.SQL("text" if kind == "jsonb" else kind))
        for _, kind in columns
    )
    values = sql.SQL(", ").join(
        sql.SQL("{}::jsonb").format(name) if kind == "jsonb" else name
        for name, (_, kind) in zip(names, columns, strict=True)
    )
    statement = sql.SQL(
        "INSERT INTO {s}.{t} ({cols}) SELECT {values} FROM unnest({arrays}) AS r({cols}) {tail}"
    ).format(s=sql.Identifier(schema), t=sql.Identifier(table), cols=sql.SQL(", ").join(names),
             values=values, arrays=arrays, tail=sql.SQL(on_conflict))
    cur.execute(statement, [list(column) for column in zip(*rows, strict=True)])
