"""Erasure makes a customer's personal data unreadable everywhere, while the log stays whole.

Unique canary values are planted in every personal field Evident stores (name, email,
phone, addresses, notes, shipping addresses), the customer is erased, every read model is
rebuilt, and a ``pg_dump`` of the whole database must contain none of them — while the
events, amounts and quantities remain for audit.
"""

from __future__ import annotations

import glob
import importlib.util
import re
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from application.envelope import Envelope
from application.order_management import OrderManagement
from application.personal_data import REDACTED
from domain.order_values import NewLine
from domain.values import Address, Channel, ConsentChannel, LocationKind
from projections import registry
from projections.engine import rebuild
from tests.projections.support import catch_up


def _pg_dump_for(conn: psycopg.Connection[Any]) -> str:
    """A pg_dump at least as new as the server (the embedded one may be newer than the OS's)."""
    server = conn.info.server_version // 10000
    candidates = []
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.origin:
        candidates.append(str(Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    if found := shutil.which("pg_dump"):
        candidates.append(found)
    for candidate in candidates:
        if not Path(candidate).exists():
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True,
                                 check=False).stdout
        match = re.search(r"(\d+)\.", version)
        if match and int(match.group(1)) >= server:
            return candidate
    pytest.fail(f"no pg_dump for PostgreSQL {server} found (apt-get install postgresql-client)")


def _dump(database_url: str) -> bytes:
    with psycopg.connect(database_url) as conn:
        pg_dump = _pg_dump_for(conn)
    return subprocess.run([pg_dump, "--dbname", database_url], capture_output=True,
                          check=True).stdout


def _found(dump: bytes, canaries: list[str]) -> list[str]:
    # Text columns appear as text; bytea columns as hex: look for both.
    return [c for c in canaries if c.encode() in dump or c.encode().hex().encode() in dump]


def test_erasing_a_customer_leaves_no_personal_data_in_the_database(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    tag = uuid.uuid4().hex[:10]
    canary = {
        "name": f"Canaryname{tag}",
        "email": f"canary{tag}@example.com",
        "phone": f"+49 30 {uuid.uuid4().int % 10**9:09d}",  # a phone is digits
        "line1": f"Canarystrasse {tag}",
        "book": f"Bookstrasse {tag}",
        "note": f"prefers parcel lockers {tag}",
        "ship": f"Shipweg {tag}",
        "moved": f"Umzugsallee {tag}",
        "order_note": f"gate code {tag}",
    }
    home = Address(canary["name"], canary["line1"], None, "Berlin", "10115", "DE")
    oms.add_location(location_id="berlin", name="Berlin", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=agent)
    oms.receive_stock(sku="JEANS-32", location_id="berlin", quantity=5, envelope=agent)
    customer = oms.register_customer(customer_id=None, name=canary["name"],
                                     email=canary["email"], phone=canary["phone"],
                                     address=home, envelope=agent)
    oms.add_customer_address(customer.id, label="work", envelope=agent,
                             address=Address(canary["name"], canary["book"], None, "Berlin",
                                             "10117", "DE"))
    oms.record_consent(customer.id, channel=ConsentChannel.EMAIL, granted=True, envelope=agent)
    oms.add_customer_note(customer.id, text=canary["note"], envelope=agent)
    placed = oms.place_order(
        order_id=None, customer_id=customer.id, channel=Channel.WEB, currency="EUR",
        lines=[NewLine("JEANS-32", 2, Decimal("59.90"))], shipping_method=None, envelope=agent,
        shipping_address=Address(canary["name"], canary["ship"], None, "Berlin", "10115", "DE"),
    )
    oms.change_shipping_address(placed.id, envelope=agent, address=Address(
        canary["name"], canary["moved"], None, "Berlin", "10115", "DE"))
    oms.add_order_note(placed.id, text=canary["order_note"], envelope=agent)
    oms.authorize_payment(placed.id, amount=Decimal("119.80"), provider="psp", reference="r1",
                          envelope=agent)
    projections = registry.select()
    catch_up(database_url, projections)

    # Positive control: before erasure the read models show the data, and the dump finds it.
    assert _found(_dump(database_url), [canary["name"], canary["email"]])
    # The log itself never holds personal data in clear, even before erasure.
    with psycopg.connect(database_url) as conn:
        states = b"".join(bytes(r[0]) for r in conn.execute("SELECT state FROM events"))
    assert not [c for c in canary.values() if c.encode() in states]

    oms.request_erasure(customer.id, reason="GDPR art. 17 request", envelope=agent)
    catch_up(database_url, projections)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for projection in projections:
            rebuild(conn, projection)

    leaked = _found(_dump(database_url), list(canary.values()))
    assert not leaked, f"personal data survived erasure: {leaked}"

    # The aggregates still load, personal fields read as the marker, amounts remain.
    erased: Any = oms.repository.get(customer.id)
    assert erased.erased
    # The erasure event itself clears the customer's fields; what came before reads as the marker.
    before: Any = oms.repository.get(customer.id, version=1)
    assert (before.name, before.email, before.phone) == (REDACTED, REDACTED, REDACTED)
    assert (erased.name, erased.email, erased.phone) == (None, None, None)
    order = oms.get_order(placed.id)
    assert order.shipping_address.line1 == REDACTED
    assert order.notes[0].text == REDACTED
    assert order.authorized == Decimal("119.80")
    assert order.lines["1"].quantity == 2
    with psycopg.connect(database_url) as conn:
        count = conn.execute("SELECT count(*) FROM events WHERE originator_id = ANY(%s)",
                             ([customer.id, placed.id],)).fetchone()
    assert count == (9,)  # 5 customer events, 4 order events: all still there
