"""Figure 5: reading and decoding the whole log in order, against the library's reader.

Evident reads with ``application.log_reader.read_log`` (gap-safe: below the snapshot horizon,
in (transaction, position) order, pages of 500) and decodes each page with the projection
engine's ``Decoder`` (the library's mapper with our orjson transcoder, personal data opened
with keys fetched once per page) — exactly what a projection worker does before applying.

The baseline is the library's own ``PostgresApplicationRecorder.select_notifications`` over
a library-format ``stored_events`` table, created by that recorder and filled with the same
events by COPY in log order, pages of 500, each notification decoded by the library's
``Mapper``. The stored states are Evident's bytes, so the baseline's mapper uses our orjson
transcoder (the library's JSON transcoder cannot read them); it does not open personal data,
so it does strictly less work than Evident's decoder.
"""

from __future__ import annotations

import time
from importlib.metadata import version
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder

from application.event_store import EVENTS_TABLE, datastore_for
from application.log_reader import LogCursor, read_log
from application.transcoding import OrjsonTranscoder
from bench.common import status
from bench.report import Result
from projections.engine import Decoder

NAME = "reads"
PAGE = 500
LIBRARY_TABLE = "stored_events"
TARGET_RATIO = 1.3


def read_evident(database_url: str) -> tuple[int, float]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        decoder = Decoder.for_connection(conn)
        started = time.perf_counter()
        cursor, events = LogCursor.start(), 0
        while batch := read_log(conn, cursor, PAGE):
            decoded = decoder.decode_batch(batch)
            events += len(decoded)
            cursor = batch[-1].cursor
        return events, time.perf_counter() - started


def copy_to_library_table(database_url: str) -> PostgresApplicationRecorder:
    """A library-format table made by the library's recorder, filled with the same log."""
    datastore = datastore_for(database_url, pool_size=1)
    recorder = PostgresApplicationRecorder(datastore, events_table_name=LIBRARY_TABLE)
    recorder.create_table()
    columns = "originator_id, originator_version, topic, state"
    with psycopg.connect(database_url, autocommit=True) as source, psycopg.connect(
        database_url, autocommit=True
    ) as target:
        target.execute(f"TRUNCATE {LIBRARY_TABLE} RESTART IDENTITY")
        with source.cursor().copy(
            f"COPY (SELECT {columns} FROM {EVENTS_TABLE} ORDER BY notification_id)"
            " TO STDOUT (FORMAT binary)"
        ) as out, target.cursor().copy(
            f"COPY {LIBRARY_TABLE} ({columns}) FROM STDIN (FORMAT binary)"
        ) as into:
            for block in out:
                into.write(block)
        target.execute(f"VACUUM (ANALYZE) {LIBRARY_TABLE}")
    return recorder


def read_library(recorder: PostgresApplicationRecorder) -> tuple[int, float]:
    mapper: Mapper[Any] = Mapper(transcoder=OrjsonTranscoder())
    started = time.perf_counter()
    start, events = 0, 0
    while notifications := recorder.select_notifications(start, PAGE,
                                                         inclusive_of_start=False):
        for notification in notifications:
            mapper.to_domain_event(notification)
        events += len(notifications)
        start = notifications[-1].id
    return events, time.perf_counter() - started


def run(database_url: str, rounds: int = 2) -> tuple[list[Result], list[str]]:
    status("reads: copying the log into the library's table")
    recorder = copy_to_library_table(database_url)
    try:
        ours: list[tuple[int, float]] = []
        theirs: list[tuple[int, float]] = []
        for _ in range(rounds):  # alternate, keep each side's best round
            status("reads: evident read_log + Decoder")
            ours.append(read_evident(database_url))
            status("reads: library select_notifications + Mapper")
            theirs.append(read_library(recorder))
    finally:
        recorder.datastore.close()
    events, seconds = min(ours, key=lambda r: r[1])
    base_events, base_seconds = min(theirs, key=lambda r: r[1])
    if events != base_events:
        raise RuntimeError(f"reads: Evident read {events} events, the library {base_events}")
    result = Result(f"read + decode the whole log in order, pages of {PAGE}",
                    events / seconds, "events/s", base_events / base_seconds,
                    target_ratio=TARGET_RATIO, row=5)
    note = (f"5: {events:,} events; best of {rounds} alternating rounds each: Evident"
            f" {seconds:.2f} s, library {base_seconds:.2f} s (eventsourcing"
            f" {version('eventsourcing')} select_notifications + Mapper(OrjsonTranscoder),"
            f" no personal data opened)")
    return [result], [note]
