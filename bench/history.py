"""A large, realistic event log, built fast: a template shop run through the real application,
then copied with fresh identities until the log is as long as asked.

Running 200k events through ``OrderManagement`` would take minutes (each command is a few
round trips and a commit), so only a *template* is made that way: a location network, a few
hundred customers and orders with a realistic mix of lifecycles (paid and shipped, delivered,
cancelled in full or in part, backordered and later allocated, held and released or rejected,
failed authorizations, delivery exceptions, returns and refunds, notes, goodwill credits,
address and consent changes) interleaved in time as a real shop's would be.

The template's events (all but the shared location network) are then *replicated* with COPY:
every UUID in a replica, in the columns and inside the JSON payloads alike, is mapped to a
fresh one, and every SKU gets the replica's own prefix (``SKU000007-03``) with its inventory
item id derived from the new SKU exactly as the domain derives it; sealed personal data is
opened with the template customer's key and sealed again for the copy's customer, whose key
is stored beside the others (an erased customer stays erased). Each replica is therefore
an independent, consistent shop on the same network: every aggregate history is complete and
in order, every reference points at an aggregate of the same replica, and every projection
can fold it. The database computes each event's hash chain and ``recorded_at`` as for any
insert, since COPY runs the same triggers and defaults.
"""

from __future__ import annotations

import base64
import dataclasses
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.envelope import Envelope
from application.event_store import EVENTS_TABLE, postgres_env
from application.order_management import OrderManagement
from domain.inventory import inventory_item_id
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import (
    Address,
    Channel,
    ConsentChannel,
    ExceptionKind,
    HoldType,
    LocationKind,
    ReturnCondition,
)

WAREHOUSE = "dc-berlin"
STORE = "store-munich"
LOCATIONS = (WAREHOUSE, STORE)
SKUS_PER_SHOP = 12
SCARCE = SKUS_PER_SHOP - 1  # this SKU runs out, so orders backorder and are allocated later
MAX_TEMPLATE_ORDERS = 300


def sku(replica: int, number: int) -> str:
    """SKUs of one replica share a fixed-width prefix, so renaming keeps payload lengths."""
    return f"SKU{replica:06d}-{number:02d}"


_DONE = object()
_TEMPLATE_SKU = sku(0, 0)[:10].encode()  # b"SKU000000-"
_CATALOGUE = [Decimal(p) for p in ("4.99", "9.90", "12.50", "19.99", "24.00", "39.95",
                                   "49.00", "59.90", "79.00", "99.99", "129.00", "7.45")]


@dataclass(frozen=True)
class History:
    """What was built: sizes, and how long each stage took."""

    events: int
    orders: int
    customers: int
    template_events: int
    template_orders: int
    replicas: int
    generate_seconds: float
    copy_seconds: float
    after_network: int = 0  # the template's events follow this position

    @property
    def seconds(self) -> float:
        return self.generate_seconds + self.copy_seconds

    def describe(self) -> str:
        return (
            f"log: {self.events:,} events, {self.orders:,} orders, {self.customers:,} customers"
            f" ({self.template_events:,} events of {self.template_orders} orders through the"
            f" application in {self.generate_seconds:.1f} s, then {self.replicas - 1} copies by"
            f" COPY in {self.copy_seconds:.1f} s)"
        )


def template_orders_for(events: int) -> int:
    """Enough orders for a varied template, few enough that the template is a small part."""
    return max(20, min(MAX_TEMPLATE_ORDERS, events // 40))


def build_history(
    database_url: str,
    events: int,
    *,
    seed: int = 1,
    template_orders: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> History:
    """Fill the (empty) log of ``database_url`` with at least ``events`` events."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
        if row is None or row[0]:
            raise RuntimeError("build_history needs an empty event log")
    rng = random.Random(seed)
    started = time.perf_counter()
    shop = _TemplateShop(database_url, rng)
    try:
        shop.open_network()
        with psycopg.connect(database_url, autocommit=True) as conn:
            after_network = _max_position(conn)
        shop.run(template_orders or template_orders_for(events))
    finally:
        shop.close()
    generated = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        template = _template(conn, after_network)
        total = after_network + len(template.rows)
        if on_progress:
            on_progress(total)
        replicas = 1
        while total < events:
            _copy_replica(conn, template, replicas, rng)
            total += len(template.rows)
            replicas += 1
            if on_progress:
                on_progress(len(template.rows))
        # A long-lived log is vacuumed and analysed by autovacuum; do it now so that neither
        # side of the comparison pays for a freshly loaded table's hint bits and statistics.
        conn.execute(f"VACUUM (ANALYZE) {EVENTS_TABLE}")
        counted = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    copied = time.perf_counter()
    return History(
        events=int(counted[0]) if counted else 0,
        orders=shop.orders * replicas,
        customers=len(shop.customers) * replicas,
        template_events=len(template.rows),
        template_orders=shop.orders,
        replicas=replicas,
        generate_seconds=generated - started,
        copy_seconds=copied - generated,
        after_network=after_network,
    )


def extend_history(
    database_url: str,
    history: History,
    events: int,
    *,
    seed: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> History:
    """Append more copies of ``history``'s template (by COPY) until the log holds at least
    ``events`` events; ``history`` must describe the log of ``database_url``."""
    rng = random.Random(seed + history.replicas)
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        template = _template(conn, history.after_network, limit=history.template_events)
        total = _count(conn)
        replicas = history.replicas
        while total < events:
            _copy_replica(conn, template, replicas, rng)
            total += len(template.rows)
            replicas += 1
            if on_progress:
                on_progress(len(template.rows))
        conn.execute(f"VACUUM (ANALYZE) {EVENTS_TABLE}")
        total = _count(conn)
    added = replicas - history.replicas
    return dataclasses.replace(
        history,
        events=total,
        orders=history.orders + history.template_orders * added,
        customers=history.customers + history.customers // history.replicas * added,
        replicas=replicas,
        copy_seconds=history.copy_seconds + time.perf_counter() - started,
    )


def _count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    return int(row[0]) if row else 0


def _max_position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}").fetchone()
    return int(row[0]) if row else 0


# --- the template: a shop run through the application ------------------------------------------


class _TemplateShop:
    """Customers and orders driven through ``OrderManagement`` with a seeded random mix."""

    def __init__(self, database_url: str, rng: random.Random) -> None:
        self.rng = rng
        self.now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        self.app = OrderManagement(
            env=postgres_env(database_url, pool_size=2),
            clock=lambda: self.now,
            new_id=lambda: UUID(int=rng.getrandbits(128), version=4),
        )
        self.customers: list[UUID] = []
        self.erased: set[UUID] = set()
        self.orders = 0

    def close(self) -> None:
        self.app.close()

    def _tick(self) -> None:
        self.now += timedelta(seconds=self.rng.randint(5, 900))

    def open_network(self) -> None:
        ops = Envelope(actor="ops", role="admin", channel="console")
        self.app.add_location(location_id=WAREHOUSE, name="Berlin DC",
                              kind=LocationKind.WAREHOUSE, priority=1, envelope=ops)
        self.app.add_location(location_id=STORE, name="Munich store",
                              kind=LocationKind.STORE, priority=2, envelope=ops)

    def run(self, orders: int) -> None:
        self._stock()
        for number in range(max(3, orders // 3)):
            self._register(number)
        # Orders progress interleaved, as in a real shop: a new order arrives while others
        # are being paid, shipped, delivered or returned.
        scripts: list[Iterator[None]] = []
        started = 0
        while started < orders or scripts:
            if started < orders and (len(scripts) < 25 or self.rng.random() < 0.3):
                scripts.append(self._order(started))
                started += 1
                self.orders = started
            index = self.rng.randrange(len(scripts))
            self._tick()
            if next(scripts[index], _DONE) is _DONE:
                scripts.pop(index)
            if self.rng.random() < 0.03:
                self._tick()
                self._customer_care()

    def _stock(self) -> None:
        wms = Envelope(actor="wms", role="system", channel="wms")
        for number in range(SKUS_PER_SHOP):
            scarce = number == SCARCE
            # Odd SKUs run short at the warehouse, so some orders are split across locations.
            for location, quantity in ((WAREHOUSE, 6 if scarce else 400 if number % 2 else 50),
                                       (STORE, 2 if scarce else 40)):
                self._tick()
                self.app.receive_stock(sku=sku(0, number), location_id=location,
                                       quantity=quantity, envelope=wms)
            if number % 4 == 0:
                self.app.set_safety_stock(sku=sku(0, number), location_id=STORE, quantity=5,
                                          envelope=wms)

    def _register(self, number: int) -> None:
        web = Envelope(actor="storefront", role="client", channel="web")
        address = _address(number)
        self._tick()
        customer = self.app.register_customer(
            customer_id=None, name=f"Customer {number}", email=f"customer{number}@example.com",
            phone=None if number % 3 else f"+49 30 {number:07d}", address=address, envelope=web,
        ).id
        self.customers.append(customer)
        if self.rng.random() < 0.4:
            self.app.record_consent(customer, channel=ConsentChannel.EMAIL, granted=True,
                                    envelope=web)
        if self.rng.random() < 0.2:
            self.app.add_customer_address(customer, label="work", address=_address(number + 1),
                                          envelope=web)

    def _customer_care(self) -> None:
        agent = Envelope(actor="ana", role="agent", channel="console")
        customer = self._customer()
        roll = self.rng.random()
        if roll < 0.4:
            self.app.add_customer_note(customer, text="Prefers delivery after 5pm",
                                       envelope=agent)
        elif roll < 0.7:
            self.app.change_customer_address(customer, label="default",
                                             address=_address(self.rng.randrange(1000)),
                                             envelope=agent)
        elif roll < 0.9:
            current: Any = self.app.repository.get(customer)
            self.app.record_consent(customer, channel=ConsentChannel.SMS,
                                    granted=not current.consents[ConsentChannel.SMS.value],
                                    envelope=agent)
        elif roll < 0.93 and len(self.erased) * 20 < len(self.customers):
            self.app.request_erasure(customer, reason="customer asked to be forgotten",
                                     envelope=agent)
            self.erased.add(customer)

    def _customer(self) -> UUID:
        while True:
            customer = self.rng.choice(self.customers)
            if customer not in self.erased:
                return customer

    def _order(self, number: int) -> Iterator[None]:
        """One order's life, a command per step; the caller interleaves many of these."""
        app, rng = self.app, self.rng
        customer = self._customer()
        client = Envelope(actor="storefront", role="client", channel="web")
        numbers = rng.sample(range(SKUS_PER_SHOP), rng.choice((1, 1, 2, 2, 3)))
        if number % 7 == 0 and SCARCE not in numbers:
            numbers[0] = SCARCE
        lines = [NewLine(sku(0, n), rng.choice((1, 1, 1, 2, 3)), _CATALOGUE[n],
                         Decimal("0.19") if n % 5 else Decimal("0.07")) for n in numbers]
        placed = app.place_order(
            order_id=None, customer_id=customer,
            channel=rng.choice((Channel.WEB, Channel.WEB, Channel.MARKETPLACE, Channel.STORE)),
            currency="EUR", lines=lines, shipping_address=_address(number),
            shipping_method=rng.choice(("standard", "express")), envelope=client,
        )
        order_id = placed.id
        # Later commands about this order belong to the conversation the placement started.
        follow = client.command_id

        def env(actor: str, role: str, channel: str) -> Envelope:
            return Envelope(actor=actor, role=role, channel=channel, correlation_id=follow,
                            causation_id=follow)

        psp, wms, carrier = env("psp", "system", "payments"), env("wms", "system", "wms"), (
            env("carrier", "system", "carrier"))
        agent = env("ana", "agent", "console")
        yield

        roll = rng.random()
        if roll < 0.07:
            app.cancel_order(order_id, reason="customer changed their mind", lines=None,
                             envelope=agent)
            return
        order = app.get_order(order_id)
        if roll < 0.12:
            line = next(iter(order.lines.values()))
            app.cancel_order(order_id, reason="one item no longer wanted",
                             lines=[LineQuantity(line.line_id, 1)], envelope=agent)
            yield
            order = app.get_order(order_id)
            if order.is_cancelled:
                return
        if rng.random() < 0.05:
            app.record_authorization_failure(order_id, provider="stripe",
                                             reason="insufficient funds", envelope=psp)
            yield
        app.authorize_payment(order_id, amount=order.totals.balance_due, provider="stripe",
                              reference=f"pi_{number:08d}", envelope=psp)
        yield
        if rng.random() < 0.08:
            hold = app.place_hold(order_id, type=HoldType.FRAUD, reason="address mismatch",
                                  envelope=agent).created_id
            assert hold is not None
            yield
            if rng.random() < 0.25:
                app.reject_order(order_id, hold, envelope=agent)
                yield
                app.void_authorization(order_id, envelope=psp)
                return
            app.release_hold(order_id, hold, reason="customer verified", envelope=agent)
            yield
        if rng.random() < 0.05:
            app.change_shipping_address(order_id, address=_address(number + 7), envelope=agent)
            yield
        if rng.random() < 0.06:
            app.add_order_note(order_id, text="Gift wrap requested", envelope=agent)
            yield
        backordered = [line.sku for line in app.get_order(order_id).lines.values()
                       if line.backordered]
        if backordered:
            yield
            yield
            for short in backordered:
                app.receive_stock(sku=short, location_id=WAREHOUSE, quantity=4, envelope=wms)
            app.allocate_backorders(order_id, envelope=wms)
            yield
        if rng.random() < 0.08:
            return  # still open: authorized, waiting for the warehouse
        shipments: list[UUID] = []
        for location in LOCATIONS:
            order = app.get_order(order_id)
            wanted = [LineQuantity(line.line_id, line.allocated_at(location))
                      for line in order.lines.values() if line.allocated_at(location)]
            if not wanted:
                continue
            shipped = app.ship(order_id, location_id=location, lines=wanted, carrier="DHL",
                               tracking_number=f"JD{number:06d}{location[:2].upper()}",
                               envelope=wms).created_id
            assert shipped is not None
            shipments.append(shipped)
            yield
        order = app.get_order(order_id)
        unshipped = [LineQuantity(line.line_id, line.cancellable)
                     for line in order.lines.values() if line.cancellable]
        if unshipped:
            app.cancel_order(order_id, reason="backorder not fulfilled", lines=unshipped,
                             envelope=agent)
            yield
        order = app.get_order(order_id)
        owed = min(order.authorization_remaining, order.totals.balance_due)
        if owed > 0 and shipments:
            app.capture_payment(order_id, amount=owed, envelope=psp)
            yield
        if app.get_order(order_id).authorization_remaining > 0:
            app.void_authorization(order_id, envelope=psp)
            yield
        for shipment in shipments:
            if rng.random() < 0.06:
                app.record_delivery_exception(order_id, shipment, kind=ExceptionKind.DELAYED,
                                              detail="sorting centre backlog", envelope=carrier)
                yield
            if rng.random() < 0.9:
                app.mark_delivered(order_id, shipment, envelope=carrier)
                yield
        if not shipments:
            return
        order = app.get_order(order_id)
        if rng.random() < 0.1:
            line = next(ln for ln in order.lines.values() if ln.shipped)
            returned = app.request_return(order_id, reason="too small",
                                          lines=[LineQuantity(line.line_id, 1)],
                                          envelope=client).created_id
            assert returned is not None
            yield
            approved = rng.random() < 0.85
            app.decide_return(order_id, returned, approved=approved,
                              reason=None if approved else "outside the return window",
                              envelope=agent)
            yield
            if not approved:
                return
            condition = (ReturnCondition.RESELLABLE if rng.random() < 0.8
                         else ReturnCondition.DAMAGED)
            app.receive_return(order_id, returned, location_id=WAREHOUSE,
                               lines=[ReturnedLine(line.line_id, 1, condition)], envelope=wms)
            yield
            amount = min(line.unit_price * (1 + line.tax_rate), order.refundable).quantize(
                Decimal("0.01"))
            if amount > 0:
                app.refund_return(order_id, returned, amount=amount, envelope=psp)
                yield
        elif rng.random() < 0.03:
            app.add_adjustment(order_id, amount=Decimal("5.00"), reason="late delivery",
                               envelope=agent)
            yield
            if order.refundable >= Decimal("5.00"):
                app.refund_payment(order_id, amount=Decimal("5.00"), reason="late delivery",
                                   envelope=psp)
                yield


def _address(number: int) -> Address:
    return Address(f"Customer {number}", f"{number % 200 + 1} Hauptstraße", None,
                   ("Berlin", "Munich", "Hamburg", "Cologne")[number % 4],
                   f"{10115 + number % 800:05d}", "DE")


# --- replication by COPY ----------------------------------------------------------------------

_COLUMNS = ("originator_id", "originator_version", "topic", "state", "actor", "actor_role",
            "channel", "reason", "correlation_id", "causation_id", "command_id", "subject_id")
_UUID_PATTERN = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# A sealed personal field (``application.personal_data.PersonalData``) as the transcoder
# writes it, or any other UUID: one pass, so a re-sealed box's new subject is not remapped.
_BOX_HEAD = b'{"$dc":["application.personal_data:PersonalData",{"subject":{"$uuid":"'
_BOX_OR_UUID = re.compile(
    rb"(?P<box>" + re.escape(_BOX_HEAD) + rb"(?P<subject>" + _UUID_PATTERN + rb')"\},'
    rb'"sealed":"(?P<sealed>[A-Za-z0-9+/=]*)"\}\]\})|(?P<uuid>' + _UUID_PATTERN + rb")"
)


@dataclass(frozen=True)
class _Row:
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    actor: str
    actor_role: str
    channel: str
    reason: str | None
    correlation_id: str
    causation_id: str | None
    command_id: str
    subject_id: str | None


@dataclass(frozen=True)
class _Template:
    rows: list[_Row]
    keys: dict[UUID, bytes | None]  # personal-data keys of the template's subjects


def _template(
    conn: psycopg.Connection[Any], after: int, limit: int | None = None
) -> _Template:
    rows = conn.execute(
        f"SELECT originator_id::text, originator_version, topic, state, actor, actor_role,"
        f" channel, reason, correlation_id::text, causation_id::text, command_id::text,"
        f" subject_id::text"
        f" FROM {EVENTS_TABLE} WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
        (after, limit),
    ).fetchall()
    keys: dict[UUID, bytes | None] = {}
    exists = conn.execute("SELECT to_regclass('personal_data_keys') IS NOT NULL").fetchone()
    if exists and exists[0]:
        for subject, key in conn.execute("SELECT subject_id, key FROM personal_data_keys"):
            keys[subject] = None if key is None else bytes(key)
    return _Template([_Row(r[0], r[1], r[2], bytes(r[3]), *r[4:]) for r in rows], keys)


class _Sealer:
    """Re-seals template personal data for a replica's subjects, each with a key of its own.

    A box is bound to its subject (the subject id is the cipher's associated data), so a
    copied box must be opened with the template subject's key and sealed again for the new
    subject: otherwise the copies' personal data would not open and every rebuild would skip
    the decryption a real log costs. A subject whose key was erased stays erased.
    """

    def __init__(self, template_keys: dict[UUID, bytes | None], rng: random.Random) -> None:
        self._template_keys = template_keys
        self._rng = rng
        self._ciphers: dict[bytes, AESGCM] = {}
        self.new_keys: dict[UUID, bytes | None] = {}

    def _cipher(self, key: bytes) -> AESGCM:
        cipher = self._ciphers.get(key)
        if cipher is None:
            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    def reseal(self, old: UUID, new: UUID, sealed: bytes) -> bytes:
        if old not in self._template_keys:
            raise RuntimeError(f"no personal-data key for template subject {old}")
        old_key = self._template_keys[old]
        if new not in self.new_keys:
            self.new_keys[new] = None if old_key is None else self._rng.randbytes(32)
        new_key = self.new_keys[new]
        if old_key is None or new_key is None:
            return sealed  # erased: it never opens, whoever it names
        raw = base64.b64decode(sealed)
        plain = self._cipher(old_key).decrypt(raw[:12], raw[12:], old.bytes)
        nonce = self._rng.randbytes(12)
        return base64.b64encode(nonce + self._cipher(new_key).encrypt(nonce, plain, new.bytes))


def _copy_replica(
    conn: psycopg.Connection[Any], template: _Template, replica: int, rng: random.Random
) -> None:
    """Append the template again as shop number ``replica``: new ids, new SKUs, same story."""
    prefix = sku(replica, 0)[:10].encode()
    fixed = {str(inventory_item_id(sku(0, n), loc)): str(inventory_item_id(sku(replica, n), loc))
             for n in range(SKUS_PER_SHOP) for loc in LOCATIONS}
    mapping: dict[str, str] = {}
    sealer = _Sealer(template.keys, rng) if template.keys else None
    boxes = 0

    def remap(old: str) -> str:
        new = mapping.get(old)
        if new is None:
            new = mapping[old] = fixed.get(old) or str(UUID(int=rng.getrandbits(128), version=4))
        return new

    def replace(match: re.Match[bytes]) -> bytes:
        found = match.group("uuid")
        if found is not None:
            return remap(found.decode()).encode()
        nonlocal boxes
        boxes += 1
        if sealer is None:
            raise RuntimeError("sealed personal data in the log, but no personal-data keys")
        old = match.group("subject").decode()
        new = remap(old)
        sealed = sealer.reseal(UUID(old), UUID(new), match.group("sealed"))
        return _BOX_HEAD + new.encode() + b'"},"sealed":"' + sealed + b'"}]}'

    with conn.transaction():
        with conn.cursor() as cur, cur.copy(
            f"COPY {EVENTS_TABLE} ({', '.join(_COLUMNS)}) FROM STDIN"
        ) as copy:
            for row in template.rows:
                boxes = 0
                state = _BOX_OR_UUID.sub(replace, row.state).replace(_TEMPLATE_SKU, prefix)
                if boxes != row.state.count(b"PersonalData"):
                    # A layout this module does not know: copying it would break the seal.
                    raise RuntimeError(f"cannot copy the sealed personal data of {row.topic}")
                copy.write_row((
                    remap(row.originator_id), row.originator_version, row.topic, state,
                    row.actor, row.actor_role, row.channel, row.reason,
                    remap(row.correlation_id),
                    remap(row.causation_id) if row.causation_id else None,
                    remap(row.command_id),
                    remap(row.subject_id) if row.subject_id else None,
                ))
        if sealer is not None and sealer.new_keys:
            subjects = list(sealer.new_keys)
            conn.execute(
                "INSERT INTO personal_data_keys (subject_id, key, erased_at)"
                " SELECT s, k, CASE WHEN k IS NULL THEN now() END"
                " FROM unnest(%s::uuid[], %s::bytea[]) AS t(s, k)",
                (subjects, [sealer.new_keys[s] for s in subjects]),
            )
