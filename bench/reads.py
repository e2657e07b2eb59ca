"""Figure 5: reading and decoding the whole log in order, against the library's reader.

Evident reads with ``application.log_reader.read_ahead`` (``read_log``'s pages: gap-safe,
below the snapshot horizon, in (transaction, position) order, pages of 500; the next pages
read by a thread while this one is decoded) and decodes each page with the projection
engine's ``Decoder`` (the library's mapper with our orjson transcoder) — what a rebuild of
all five read models does before applying: personal data opened, with the keys read with
their events, in the events whose personal data a read model reads (``reads_personal``: the
customers', for care), other events' sealed boxes left sealed, as the baseline leaves all of
them. Unlike a rebuild it decodes every event, also those of classes no read model handles.
A third reader, taking its turns with the other two, opens every sealed box as well, over
the first ``OPENED_EVENTS`` events (the log is copies of one template, so a prefix holds the
whole log's mix, and reading all of it took half a minute of the suite on a slow machine); a
note gives its rate against the other two's over the same turns.

The baseline is the library as it comes: its ``PostgresApplicationRecorder`` and
``select_notifications`` over a library-format ``stored_events`` table (created by that
recorder), pages of 500, each notification decoded by the library's ``Mapper`` with the
``JSONTranscoder`` its ``Application`` uses by default, and the same transcodings as the
baseline of figures 1–3 (the library's own for UUIDs, decimals and datetimes, one per
dataclass). The table holds the same events in log order, each state decoded from Evident's
log and encoded by that transcoder (personal data stays sealed: the baseline opens none, so
it does less work than either of Evident's readers).

Each reader reads the whole log once; they take turns of ``TURN_PAGES`` pages, so that a
slow stretch of a shared machine lands on all of them (``interleaved``). Each of Evident's
read-aheads goes on during the other readers' turns for up to two pages (2% of a turn), and
takes the CPU it needs to parse them from theirs.

A note gives, for comparison, the library's reader over the same bytes Evident stores,
decoded with Evident's own transcoder (over the first ``HYBRID_EVENTS`` events, to keep the
suite in its time): what the baseline would cost without its JSON transcoder.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Generator, Iterable
from importlib.metadata import version
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Transcoder,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic

from application.event_store import EVENTS_TABLE, datastore_for
from application.log_reader import LogCursor, read_ahead
from application.personal_data import PersonalData
from application.transcoding import OrjsonTranscoder
from bench.common import register_dataclasses, status
from bench.report import Result
from domain import order_values, values
from projections import registry
from projections.engine import Decoder, Wanted, wanted_by

NAME = "reads"
PAGE = 500
LIBRARY_TABLE = "stored_events"  # the library's own format and transcoder
BYTES_TABLE = "stored_evident_bytes"  # the library's format, Evident's bytes
TARGET_RATIO = 1.3
HYBRID_EVENTS = 100_000  # events the informative same-transcoder comparison reads
OPENED_EVENTS = 200_000  # events the reader that opens every sealed box reads
TURN_PAGES = 100  # pages each side reads in its turn
_COLUMNS = "originator_id, originator_version, topic, state"
Pages = Generator[int, None, None]  # a reader, one page per step: the events it decoded
Turns = list[tuple[int, float]]  # a reader's turns: the events it read in each, and seconds


def evident_pages(database_url: str, wanted: Wanted | None = None) -> Pages:
    """Evident's reader, one page per step: how many events each page decoded to, decoded as
    ``wanted`` says (None: every event, every sealed box opened). The first step only
    connects (so that connecting is not timed; the read-ahead's own connection, opened as
    reading starts, is)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        decoder = Decoder.for_connection(conn)
        yield 0
        for batch in read_ahead(conn, LogCursor.start(), PAGE):
            yield len(decoder.decode_batch(batch, wanted))


def as_a_rebuild_reads() -> Wanted:
    """Every event decoded, with personal data opened as a rebuild of all the read models
    opens it: in the classes whose personal data one of them reads."""
    return Wanted(None, wanted_by(registry.select()).personal)


def _owners(wanted: Wanted) -> str:
    """Whose events ``wanted`` opens personal data in: "Customer", say, or "all"."""
    if wanted.personal is None:
        return "all"
    owners = sorted({kind.__qualname__.partition(".")[0] for kind in wanted.personal})
    return ", ".join(owners) or "no"


def library_transcoder() -> JSONTranscoder:
    """The transcoder of the library's default ``Application``, with a transcoding for each
    dataclass Evident's events hold (and for the sealed boxes of personal data)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_dataclasses(transcoder, _dataclasses(values, order_values, PersonalData))
    return transcoder


def _dataclasses(*where: Any) -> Iterable[type[Any]]:
    for place in where:
        members = [place] if isinstance(place, type) else vars(place).values()
        yield from (m for m in members if isinstance(m, type) and dataclasses.is_dataclass(m))


def in_library_format(state: bytes) -> bytes:
    """A state stored by Evident, as the library's ``library_transcoder()`` encodes the same
    value: what ``transcoder.encode(OrjsonTranscoder().decode(state))`` gives, without
    building the values in between (for a million events that takes most of a minute).
    ``tests/test_bench_smoke.py`` checks the two agree byte for byte."""
    return orjson.dumps(_library_value(orjson.loads(state)))


def _library_value(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            [(key, inner)] = value.items()
            if key[:1] == "$":
                rewrite = _LIBRARY_TAGS.get(key)
                if rewrite is None:
                    raise ValueError(f"the library's default transcoder has no way to store"
                                     f" {key!r}")
                return rewrite(inner)
        return {k: v if type(v) in _PLAIN else _library_value(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else _library_value(v) for v in value]
    return value


_PLAIN = frozenset({str, int, bool, float, type(None)})


def _library_enum_value(topic: str, value: Any) -> Any:
    # resolve_topic keeps what it resolved, so this costs a lookup per member.
    if not issubclass(resolve_topic(topic), str | int):
        raise ValueError(f"the library's default transcoder has no way to store {topic}")
    return _library_value(value)


def _tagged(name: str, data: Any) -> dict[str, Any]:
    return {"_type_": name, "_data_": data}


_LIBRARY_TAGS: dict[str, Callable[[Any], Any]] = {
    "$dec": lambda text: _tagged(DecimalAsStr.name, text),
    "$uuid": lambda text: _tagged(UUIDAsHex.name, text.replace("-", "")),
    "$dt": lambda text: _tagged(DatetimeAsISO.name, text),
    # The library's JSON encoder writes a str or int enum member as its value, and a tuple
    # as a list; a dataclass goes under its transcoding's name, its qualified name.
    "$enum": lambda pair: _library_enum_value(*pair),
    "$tuple": lambda items: [_library_value(v) for v in items],
    "$dc": lambda pair: _tagged(pair[0].rpartition(":")[2], _library_value(pair[1])),
}


def library_table(
    database_url: str, table: str, *, library_format: bool, limit: int | None = None,
) -> PostgresApplicationRecorder:
    """A library-format ``table`` made by the library's recorder, filled with Evident's log in
    log order (its first ``limit`` events): each state as Evident stored it, or as the
    library's default transcoder encodes it (``in_library_format``)."""
    datastore = datastore_for(database_url, pool_size=1)
    recorder = PostgresApplicationRecorder(datastore, events_table_name=table)
    recorder.create_table()
    first = "" if limit is None else f" LIMIT {int(limit)}"
    select = f"SELECT {_COLUMNS} FROM {EVENTS_TABLE} ORDER BY notification_id{first}"
    with psycopg.connect(database_url) as source, psycopg.connect(
        database_url, autocommit=True
    ) as target:
        target.execute(f"TRUNCATE {table} RESTART IDENTITY")
        into = f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT binary)"
        if library_format:
            # Rows in pages from a server-side cursor (a COPY read row by row costs more).
            with source.cursor("evident_log", binary=True) as rows, target.cursor().copy(
                into
            ) as copy:
                rows.itersize = 5_000
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for originator, version_, topic, state in rows.execute(select):
                    copy.write_row((originator, version_, topic, in_library_format(state)))
        else:
            with source.cursor().copy(
                f"COPY ({select}) TO STDOUT (FORMAT binary)"
            ) as out, target.cursor().copy(into) as copy:
                for block in out:
                    copy.write(block)
        target.execute(f"VACUUM (ANALYZE) {table}")
    return recorder


def library_pages(recorder: PostgresApplicationRecorder, transcoder: Transcoder) -> Pages:
    """The library's reader, one page per step, as ``evident_pages``."""
    mapper: Mapper[Any] = Mapper(transcoder=transcoder)
    start = 0
    yield 0
    while notifications := recorder.select_notifications(start, PAGE,
                                                         inclusive_of_start=False):
        for notification in notifications:
            mapper.to_domain_event(notification)
        yield len(notifications)
        start = notifications[-1].id


def interleaved(
    readers: dict[str, Pages], turn: int, most: dict[str, int] | None = None
) -> dict[str, Turns]:
    """Each reader to its end, in turns of ``turn`` pages: each one's turns, timed.

    Turns rather than one whole read after the other, so that both sides meet the same
    moments of a shared machine (a slow minute lands on both) in one pass each: two whole
    rounds per side took a third of the suite's time. Only the turns are timed. A reader
    named in ``most`` stops after that many turns; over its turns, every reader has read
    the same pages.
    """
    timed: dict[str, Turns] = {name: [] for name in readers}
    limits = most or {}
    try:
        for reader in readers.values():
            next(reader)  # connect
        running = dict(readers)
        while running:
            for name, reader in list(running.items()):
                events, started = 0, time.perf_counter()
                for _ in range(turn):
                    page = next(reader, None)
                    if page is None:
                        del running[name]
                        break
                    events += page
                timed[name].append((events, time.perf_counter() - started))
                if name in running and len(timed[name]) >= limits.get(name, math.inf):
                    del running[name]
                    reader.close()
    finally:
        for reader in readers.values():
            reader.close()
    return timed


def total(turns: Turns, first: int | None = None) -> tuple[int, float]:
    """Events and seconds over a reader's ``first`` turns (all of them: None)."""
    chosen = turns[:first]
    return sum(events for events, _ in chosen), sum(seconds for _, seconds in chosen)


def run(
    database_url: str, turn_pages: int = TURN_PAGES, hybrid_events: int = HYBRID_EVENTS,
    opened_events: int = OPENED_EVENTS,
) -> tuple[list[Result], list[str]]:
    status("reads: the log in the library's format, as its JSON transcoder encodes it")
    transcoder = library_transcoder()
    library = library_table(database_url, LIBRARY_TABLE, library_format=True)
    status("reads: the first events of the log in the library's format, Evident's bytes")
    same_bytes = library_table(database_url, BYTES_TABLE, library_format=False,
                               limit=hybrid_events)
    try:
        status("reads: evident read_log + Decoder (as a rebuild opens personal data, and every"
               " box opened, over a prefix) and library select_notifications +"
               " Mapper(JSONTranscoder), in turns")
        wanted = as_a_rebuild_reads()
        timed = interleaved({"evident": evident_pages(database_url, wanted),
                             "opened": evident_pages(database_url),
                             "library": library_pages(library, transcoder)}, turn_pages,
                            most={"opened": math.ceil(opened_events / (turn_pages * PAGE))})
        status("reads: library select_notifications + Mapper(OrjsonTranscoder), a prefix")
        hybrid_read, hybrid_seconds = total(interleaved(
            {"hybrid": library_pages(same_bytes, OrjsonTranscoder())}, turn_pages)["hybrid"])
    finally:
        library.datastore.close()
        same_bytes.datastore.close()
    events, seconds = total(timed["evident"])
    base_events, base_seconds = total(timed["library"])
    prefix = len(timed["opened"])
    opened_read, opened_seconds = total(timed["opened"])
    prefix_events, prefix_seconds = total(timed["evident"], prefix)
    prefix_base, prefix_base_seconds = total(timed["library"], prefix)
    if events != base_events or not opened_read == prefix_events == prefix_base:
        raise RuntimeError(f"reads: Evident read {events} events, the library {base_events};"
                           f" over the first {prefix} turns {prefix_events}, {opened_read}"
                           f" opening every box, the library {prefix_base}")
    result = Result(f"read + decode the whole log in order, pages of {PAGE}", events / seconds,
                    "events/s", base_events / base_seconds, target_ratio=TARGET_RATIO, row=5)
    notes = [
        f"5: {events:,} events, one pass each in alternating turns of {turn_pages * PAGE:,}"
        f" events: Evident {seconds:.2f} s (personal data opened where a read model reads"
        f" it: in {_owners(wanted)} events), library {base_seconds:.2f} s (eventsourcing"
        f" {version('eventsourcing')} select_notifications + Mapper(JSONTranscoder) as its"
        f" Application has it, the dataclass transcodings of 1–3; no personal data opened)",
        f"5: Evident opening every sealed box as well (orders' addresses too), over the first"
        f" {opened_read:,} events, in the same turns: {opened_read / opened_seconds:,.0f}"
        f" events/s, against {prefix_events / prefix_seconds:,.0f} opening customers' only and"
        f" the library's {prefix_base / prefix_base_seconds:,.0f} over the same events:"
        f" {opened_read / opened_seconds / (prefix_base / prefix_base_seconds):.2f}× the"
        " library",
    ]
    if hybrid_read:
        notes.append(
            f"5: the library's reader given Evident's own bytes and transcoder instead (over"
            f" the first {hybrid_read:,} events): {hybrid_read / hybrid_seconds:,.0f}"
            f" events/s, {events / seconds / (hybrid_read / hybrid_seconds):.2f}× of it for"
            f" Evident; the rest of the baseline's cost is the library's JSON transcoder")
    return [result], notes
