"""New ids: UUIDs that begin with the moment they were made (RFC 9562, version 7).

Any UUID would do as an id. These keep PostgreSQL's indexes on ids (the log's primary key,
its per-aggregate time index, the personal-data key table) growing at one end, whose pages
are in memory already, rather than touching a random page of a large index with every
insert, which after each checkpoint also means writing that whole page to the WAL. The other
74 bits are random, so ids stay unguessable and unique across processes.
"""

from __future__ import annotations

import os
import time
from uuid import UUID

_RANDOM_B = (1 << 62) - 1


def new_id() -> UUID:
    """A fresh version-7 UUID: 48 bits of Unix milliseconds, then 74 random bits."""
    milliseconds = time.time_ns() // 1_000_000 & ((1 << 48) - 1)
    random = int.from_bytes(os.urandom(10))
    return UUID(
        int=milliseconds << 80
        | 0x7 << 76  # version
        | (random >> 62 & 0xFFF) << 64
        | 0b10 << 62  # variant (RFC 9562)
        | random & _RANDOM_B
    )
