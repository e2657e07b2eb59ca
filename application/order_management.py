"""The order management application: every command loads aggregates, asks the domain, and
saves all changed aggregates atomically with the command's envelope.

Handlers are verbs. They never decide business rules (the domain does) and never format
responses (interfaces do). What varies per run — the clock and new ids — is injected, so a
test can fix both. Commands that touch inventory retry, a bounded number of times, when
another command saved the same inventory item first (optimistic concurrency).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Notification, Recording, StoredEvent
from eventsourcing.utils import EnvType

from application.aggregate_cache import ABSENT, AggregateCache, copy_aggregate
from application.bridge import OneAtATime, blocking, pause
from application.envelope import Envelope
from application.errors import (
    AlreadyExistsError,
    ApplicationError,
    ContentionError,
    InvalidRequestError,
    NotFoundError,
    StaleVersionError,
)
from application.event_store import EvidentFactory
from application.ids import new_id
from application.personal_data import KeyStore, PersonalDataMapper
from domain.allocation import StockAtLocation, plan_allocation
from domain.customer import Customer
from domain.errors import CustomerErasedError, DomainError, ExceedsReservationError
from domain.inventory import InventoryItem, inventory_item_id
from domain.location import LocationNetwork
from domain.order import Order
from domain.order_values import (
    LineQuantity,
    NewLine,
    Restock,
    ReturnedLine,
    StockConsumption,
    StockRelease,
)
from domain.values import Address, Channel, ConsentChannel, ExceptionKind, HoldType, LocationKind

log = logging.getLogger("evident.application")

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

MAX_ATTEMPTS = 8
# Decoded snapshots kept for reading aggregates as they were (see _snapshot_state).
SNAPSHOTS_KEPT = 256


@dataclass(frozen=True)
class CommandResult:
    """What a command answers (API.md): the aggregate, its new version, the log position,
    and the id of anything the command created inside it (a hold, shipment, return...)."""

    id: UUID
    version: int
    position: int
    aggregate: Any
    created_id: UUID | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class _Reads:
    """What the command being run may read, and what it read on trust.

    ``optimistic``: take cached aggregates without asking the log (a command's first
    attempt). ``unverified``: the aggregates so taken, by id, with the version read (0: known
    absent), for the append's guard and for deciding whether a rejection is to be trusted.
    """

    def __init__(self, optimistic: bool = False) -> None:
        self.optimistic = optimistic
        self.unverified: dict[UUID, int] = {}

    def trusted(self, aggregate_id: UUID, cached: Any) -> Any | None:
        """``cached`` (an aggregate or ``ABSENT``) taken on trust and noted: the aggregate,
        or None if it is known absent."""
        if cached is ABSENT:
            self.unverified[aggregate_id] = 0
            return None
        self.unverified[aggregate_id] = cached.version
        return cached


# Per command being run: a context variable rather than a thread-local, because commands
# bridged onto the event loop (``application.bridge``) share its thread.
_READS: ContextVar[_Reads] = ContextVar("evident_reads")
_VERIFIED = _Reads()  # outside a command: every read asks the log (never written to)


def _item_ids(skus: Iterable[str], network: LocationNetwork) -> list[UUID]:
    """The ids of the inventory items of ``skus`` at every location, SKU by SKU, each in
    location priority order."""
    return [inventory_item_id(sku, location.location_id)
            for sku in dict.fromkeys(skus) for location in network.by_priority]


class OrderManagement(Application[UUID]):
    """Evident's application service for orders, inventory, locations and customers."""

    name = "Evident"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Order: 50, InventoryItem: 200, LocationNetwork: 100
    }

    def __init__(
        self,
        env: EnvType,
        *,
        clock: Callable[[], datetime] = _now,
        new_id: Callable[[], UUID] = new_id,
    ) -> None:
        self.clock = clock
        self.new_id = new_id
        self._retries = OneAtATime()
        super().__init__(env)

    def construct_factory(self, env: Any) -> Any:
        return EvidentFactory(env)

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository for reading from the store, and Evident's own cache.

        The library's cache changes cached aggregates in place and deep-copies them on every
        read; ``application.aggregate_cache`` explains the cheaper rule kept here instead.
        """
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        self.aggregates = AggregateCache(int(maxsize) if maxsize else 0)
        self._snapshot_states: LRUCache[tuple[UUID, int], Any] = LRUCache(
            maxsize=SNAPSHOTS_KEPT)
        return Repository(event_store=self.events, snapshot_store=self.snapshots)

    # --- plumbing ---------------------------------------------------------------------------

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Record the pending events of ``objs`` (aggregates, or events) in one statement.

        The library's ``save`` does the same with more generality than Evident needs (runtime
        protocol checks per object, re-reading an aggregate from the store to snapshot it).
        Commands do not come through here (``_commit`` records with the guard and the
        envelope); this is for code that saves aggregates directly (set-up, tests, bench),
        through the same ``_record_pending``. Aggregates that reached a snapshot interval
        are snapshotted from the state in hand, which *is* the state their events produce.
        """
        events, stored, positions = self._record_pending(objs, kwargs)
        return [
            Recording(event, Notification(s.originator_id, s.originator_version, s.topic,
                                          s.state, position))
            for event, s, position in zip(events, stored, positions, strict=True)
        ]

    def _record_pending(
        self, objs: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[list[Any], list[StoredEvent], Sequence[int]]:
        events: list[Any] = []
        aggregates: list[Aggregate] = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                events.extend(obj.collect_events())
                aggregates.append(obj)
            elif obj is not None:
                events.append(obj)
        if not events:
            return [], [], []
        mapper = self.mapper
        stored = [mapper.to_stored_event(event) for event in events]
        positions = self.recorder.insert_events(stored, **kwargs) or []
        self._snapshot_where_due(aggregates, events)
        return events, stored, positions

    def _snapshot_where_due(self, aggregates: Sequence[Aggregate], events: Sequence[Any]) -> None:
        if self.snapshots is None:
            return
        due: dict[UUID, Aggregate] = {}
        by_id = {aggregate.id: aggregate for aggregate in aggregates}
        for event in events:
            aggregate = by_id.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate else None
            if aggregate is not None and interval and event.originator_version % interval == 0:
                due[aggregate.id] = aggregate
        for aggregate in due.values():
            blocking(self.snapshots.put, [type(aggregate).Snapshot.take(aggregate)])

    def _commit(self, *aggregates: Aggregate, envelope: Envelope) -> int:
        """Save what the command changed; the position of its last event.

        Aggregates the command changed are protected by optimistic concurrency; those it
        read from the cache without asking the log, and did not change, are named in the
        append's guard (``EventRecorder.append``), so that a decision taken on a stale copy
        never lands.
        """
        written = {aggregate.id for aggregate in aggregates}
        guard = {i: v for i, v in _READS.get(_VERIFIED).unverified.items() if i not in written}
        kwargs: dict[str, Any] = {"envelope": envelope}
        if guard:
            kwargs["guard"] = guard
        _, _, positions = self._record_pending(aggregates, kwargs)
        # What we just saved is the current version: keep it, so the next command that
        # loads these aggregates finds them up to date without replaying anything. The
        # command is done with them; from now on nobody changes them (aggregate_cache).
        for aggregate in aggregates:
            self.aggregates.put(aggregate)
        return max(positions, default=0)

    def _current(self, ids: Sequence[UUID]) -> dict[UUID, Any]:
        """The current state of each of ``ids`` that exists, **not to be changed**.

        Inside a command's first attempt, cached aggregates are taken as they are (and noted,
        see ``_retrying``). Otherwise one query asks the log for the versions of the rest;
        cached aggregates at that version cost nothing more, and only the others are read
        from the store.
        """
        found: dict[UUID, Any] = {}
        reads = _READS.get(_VERIFIED)
        asked: list[UUID] = []
        for aggregate_id in ids:
            cached = self.aggregates.get(aggregate_id)
            if reads.optimistic and cached is not None:
                if (trusted := reads.trusted(aggregate_id, cached)) is not None:
                    found[aggregate_id] = trusted
            else:
                asked.append(aggregate_id)
        if not asked:
            return found
        versions = self.recorder.current_versions(asked)  # type: ignore[attr-defined]
        for aggregate_id in asked:
            version = versions.get(aggregate_id)
            if version is None:
                self.aggregates.put_absent(aggregate_id)
                continue
            cached = self.aggregates.get(aggregate_id)
            if cached is ABSENT:
                cached = None
            if cached is None or cached.version != version:
                cached = self._read(aggregate_id, cached)
            if cached is not None:
                found[aggregate_id] = cached
        return found

    def _load_many(self, ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Copies of the current state of each of ``ids`` that exists, for a command to change."""
        return {i: copy_aggregate(a) for i, a in self._current(ids).items()}

    def _read(self, aggregate_id: UUID, cached: Any | None = None) -> Any | None:
        """The aggregate as the store has it now: ``cached`` brought up to date on a copy (one
        query for the events after it), or read from its snapshot and events; then cached."""
        if cached is not None:
            newer: list[Any] = blocking(self._events_after, aggregate_id, cached.version)
            if not newer:
                return cached
            aggregate = copy_aggregate(cached)
            for event in newer:
                aggregate = event.mutate(aggregate)
        else:
            try:
                aggregate = blocking(self.repository.get, aggregate_id)
            except AggregateNotFoundError:
                return None
        self.aggregates.put(aggregate)
        return aggregate

    def _events_after(self, aggregate_id: UUID, version: int) -> list[Any]:
        return list(self.events.get(aggregate_id, gt=version))

    def _shared(self, aggregate_id: UUID) -> Any | None:
        """The current state of one aggregate, not to be changed: in a command's first
        attempt the cached one as it is (noted, see ``_retrying``); otherwise the cached one
        brought up to date with one query, or read from the store."""
        cached = self.aggregates.get(aggregate_id)
        reads = _READS.get(_VERIFIED)
        if reads.optimistic and cached is not None:
            return reads.trusted(aggregate_id, cached)
        found = self._read(aggregate_id, None if cached is ABSENT else cached)
        if found is None:
            self.aggregates.put_absent(aggregate_id)
        return found

    def _result(
        self, aggregate: Aggregate, position: int, created_id: UUID | None = None
    ) -> CommandResult:
        return CommandResult(aggregate.id, aggregate.version, position, aggregate, created_id)

    def _load(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        """A copy of the current ``cls`` with this id, for a command to change."""
        aggregate = self._load_optional(aggregate_id)
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"there is no {what} {aggregate_id}")
        return aggregate

    def _load_optional(self, aggregate_id: UUID) -> Any | None:
        shared = self._shared(aggregate_id)
        return None if shared is None else copy_aggregate(shared)

    @staticmethod
    def _check_version(aggregate: Aggregate, expected_version: int | None) -> None:
        if expected_version is not None and aggregate.version != expected_version:
            raise StaleVersionError(
                f"expected version {expected_version}, but it is at version {aggregate.version}",
                field="If-Match",
            )

    def _retrying(self, command: Callable[[], T]) -> T:
        """Run ``command``, deciding on cached state first and on the log's when that fails.

        The first attempt trusts the cache: aggregates found there are used without asking
        the log whether another process has changed them since (``_shared``, ``_current``),
        which saves a round trip per command. Nothing stale can land: a changed aggregate
        makes the append fail (optimistic concurrency; the guard for those only read), and
        then the command runs again on state read from the log. A rejection decided on
        unverified state is not trusted either: the command is decided again on the log's.
        Later attempts, when another writer saved the same aggregate first, back off a
        little; after ``MAX_ATTEMPTS`` the command gives up with ``ContentionError``.
        """
        optimistic = bool(self.aggregates)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            reads = _Reads(optimistic)
            token = _READS.set(reads)
            try:
                if attempt == 1:
                    return command()
                # Commands that collided take turns: under a burst of orders for one SKU,
                # each retry then meets only first attempts, not every other retry again.
                with self._retries.turn():
                    return command()
            except (IntegrityError, ExceedsReservationError):
                # ExceedsReservationError here means the order we read was already stale
                # (another command shipped or released those units since): read again, and
                # the order itself will then name the real reason.
                if attempt == MAX_ATTEMPTS:
                    break
                if not optimistic:
                    pause(random.uniform(0, 0.002 * attempt))
                optimistic = False
            except (DomainError, ApplicationError):
                if not reads.unverified:
                    raise
                optimistic = False  # decided on copies the log did not vouch for
            finally:
                _READS.reset(token)
        raise ContentionError(
            f"gave up after {MAX_ATTEMPTS} attempts: other commands kept changing the same"
            " aggregates; retry the request"
        )

    # --- locations and inventory ------------------------------------------------------------

    def network(self) -> LocationNetwork | None:
        """The location network as it is now (not to be changed: ``add_location`` copies it)."""
        found = self._shared(LocationNetwork.ID)
        return found if isinstance(found, LocationNetwork) else None

    def add_location(
        self, *, location_id: str, name: str, kind: LocationKind, priority: int,
        envelope: Envelope,
    ) -> CommandResult:
        def command() -> CommandResult:
            at = self.clock()
            current = self.network()
            network = copy_aggregate(current) if current else LocationNetwork.create(at=at)
            network.add_location(
                location_id=location_id, name=name, kind=kind, priority=priority, at=at
            )
            return self._result(network, self._commit(network, envelope=envelope))

        return self._retrying(command)

    def _require_location(self, location_id: str) -> None:
        network = self.network()
        if network is None or location_id not in network.locations:
            raise NotFoundError(f"there is no location {location_id!r}", field="location_id")

    def _inventory_item(self, sku: str, location_id: str, at: datetime) -> InventoryItem:
        self._require_location(location_id)
        found = self._load_optional(inventory_item_id(sku, location_id))
        return found if isinstance(found, InventoryItem) else InventoryItem.create(
            sku=sku, location_id=location_id, at=at
        )

    def receive_stock(
        self, *, sku: str, location_id: str, quantity: int, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        def command() -> CommandResult:
            at = self.clock()
            item = self._inventory_item(sku, location_id, at)
            self._check_version(item, expected_version)
            item.receive(quantity=quantity, at=at)
            return self._result(item, self._commit(item, envelope=envelope))

        return self._retrying(command)

    def adjust_stock(
        self,
        *,
        sku: str,
        location_id: str,
        reason: str,
        quantity_delta: int | None = None,
        counted: int | None = None,
        envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Correct on hand after a cycle count, damage or loss."""

        def command() -> CommandResult:
            at = self.clock()
            item = self._inventory_item(sku, location_id, at)
            self._check_version(item, expected_version)
            item.adjust(reason=reason, quantity_delta=quantity_delta, counted=counted, at=at)
            return self._result(item, self._commit(item, envelope=envelope.with_reason(reason)))

        return self._retrying(command)

    def set_safety_stock(
        self, *, sku: str, location_id: str, quantity: int, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        def command() -> CommandResult:
            at = self.clock()
            item = self._inventory_item(sku, location_id, at)
            self._check_version(item, expected_version)
            item.set_safety_stock(quantity=quantity, at=at)
            return self._result(item, self._commit(item, envelope=envelope))

        return self._retrying(command)

    def inventory_as_of(self, sku: str, as_of: datetime) -> list[InventoryItem]:
        """The SKU's inventory items as they were at ``as_of``, at every location then known."""
        try:
            network = self.aggregate_as_of(LocationNetwork, LocationNetwork.ID, "location network",
                                           as_of=as_of)
        except NotFoundError:
            return []
        items = []
        for location in network.by_priority:
            try:
                items.append(self.aggregate_as_of(
                    InventoryItem, inventory_item_id(sku, location.location_id),
                    "inventory item", as_of=as_of))
            except NotFoundError:
                continue
        return items

    def inventory_items(
        self, sku: str, network: LocationNetwork | None = None
    ) -> list[InventoryItem]:
        """The SKU's inventory items at every known location (those that exist)."""
        return self.stock_of([sku], network)

    def stock_of(
        self, skus: Iterable[str], network: LocationNetwork | None = None
    ) -> list[InventoryItem]:
        """The inventory items of ``skus`` at every location, in location priority order.

        One query finds which (SKU, location) pairs have stock records at all and at which
        version, so a command loads only those, and only those not already current in memory.
        """
        network = network or self.network()
        if network is None:
            return []
        wanted = _item_ids(skus, network)
        loaded = self._load_many(wanted)
        return [loaded[i] for i in wanted if isinstance(loaded.get(i), InventoryItem)]

    # --- customers --------------------------------------------------------------------------

    def register_customer(
        self,
        *,
        customer_id: UUID | None,
        name: str,
        email: str,
        phone: str | None,
        address: Address | None,
        envelope: Envelope,
    ) -> CommandResult:
        customer_id = customer_id or self.new_id()
        # No read first: a taken id fails the insert of version 1 (IntegrityError below).
        customer = Customer.register(
            customer_id=customer_id, name=name, email=email, phone=phone, address=address,
            registered_at=self.clock(),
        )
        try:
            return self._result(customer, self._commit(customer, envelope=envelope))
        except IntegrityError:
            raise AlreadyExistsError(f"customer {customer_id} already exists", field="id") from None

    def _customer_command(
        self,
        customer_id: UUID,
        act: Callable[[Customer, datetime], UUID | None],
        envelope: Envelope,
        expected_version: int | None,
    ) -> CommandResult:
        def command() -> CommandResult:
            customer = self._load(Customer, customer_id, "customer")
            self._check_version(customer, expected_version)
            created = act(customer, self.clock())
            return self._result(customer, self._commit(customer, envelope=envelope), created)

        return self._retrying(command)

    def add_customer_address(
        self, customer_id: UUID, *, label: str, address: Address, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._customer_command(
            customer_id,
            lambda c, at: c.add_address(label=label, address=address, at=at),
            envelope, expected_version,
        )

    def change_customer_address(
        self, customer_id: UUID, *, label: str, address: Address, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._customer_command(
            customer_id,
            lambda c, at: c.change_address(label=label, address=address, at=at),
            envelope, expected_version,
        )

    def remove_customer_address(
        self, customer_id: UUID, *, label: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._customer_command(
            customer_id, lambda c, at: c.remove_address(label=label, at=at),
            envelope, expected_version,
        )

    def record_consent(
        self, customer_id: UUID, *, channel: ConsentChannel, granted: bool, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        def act(customer: Customer, at: datetime) -> None:
            if granted:
                customer.grant_consent(channel=channel, at=at)
            else:
                customer.withdraw_consent(channel=channel, at=at)

        return self._customer_command(customer_id, act, envelope, expected_version)

    def add_customer_note(
        self, customer_id: UUID, *, text: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        note_id = self.new_id()

        def act(customer: Customer, at: datetime) -> UUID:
            customer.add_note(note_id=note_id, text=text, author=envelope.actor, at=at)
            return note_id

        return self._customer_command(customer_id, act, envelope, expected_version)

    def request_erasure(
        self, customer_id: UUID, *, reason: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Record the erasure, then destroy the customer's key: every personal field of theirs
        in the log reads as the redaction marker from then on (``personal_data``)."""
        result = self._customer_command(
            customer_id, lambda c, at: c.request_erasure(reason=reason, at=at),
            envelope.with_reason(reason), expected_version,
        )
        self.personal_data.erase(customer_id)
        # Cached aggregates hold opened personal data in memory: start fresh caches.
        self.aggregates.clear()
        self._snapshot_states = LRUCache(maxsize=SNAPSHOTS_KEPT)
        return result

    @property
    def personal_data(self) -> KeyStore:
        mapper = self.mapper
        if not isinstance(mapper, PersonalDataMapper):
            raise TypeError("Evident applications use the personal-data mapper")
        return mapper.keys

    # --- orders -----------------------------------------------------------------------------

    def get_order(
        self, order_id: UUID, version: int | None = None, as_of: datetime | None = None
    ) -> Order:
        """The order now, at ``version``, or as it was at ``as_of`` (from the event store)."""
        return self.aggregate_as_of(Order, order_id, "order", version=version, as_of=as_of)

    def _versions_at(
        self, aggregate_id: UUID, *, moment: datetime | None = None, version: int | None = None
    ) -> tuple[int | None, int | None]:
        return self.recorder.version_and_snapshot(  # type: ignore[attr-defined,no-any-return]
            aggregate_id, moment=moment, version=version)

    def _at_version(self, aggregate_id: UUID, version: int, snapshot: int | None) -> Any | None:
        """The aggregate at ``version``: its snapshot at version ``snapshot`` (decoded once and
        kept, see ``_snapshot_state``) and the events after it up to ``version``."""
        base = self._snapshot_state(aggregate_id, snapshot) if snapshot else None
        aggregate = None if base is None else copy_aggregate(base)
        event: Any
        for event in self.events.get(aggregate_id, gt=base.version if base else None,
                                     lte=version):
            aggregate = event.mutate(aggregate)
        return aggregate

    def _snapshot_state(self, aggregate_id: UUID, version: int) -> Any | None:
        """The aggregate as its snapshot at ``version`` holds it, not to be changed.

        Decoding a large aggregate's snapshot costs more than everything else in reading it
        as it was, so decoded snapshots are kept (a snapshot never changes). They hold
        personal data in the clear, like the snapshots in the store; one is used only while
        the store still lists that snapshot (``_versions_at`` asks), and erasing a customer
        deletes the snapshots of their aggregates in the same transaction that destroys
        their key (``KeyStore.erase``).
        """
        key = (aggregate_id, version)
        try:
            state: Any = self._snapshot_states.get(key)
        except KeyError:
            snapshots: list[Any] = list(self.snapshots.get(
                aggregate_id, lte=version, desc=True, limit=1)) if self.snapshots else []
            if not snapshots or snapshots[0].originator_version != version:
                return None
            state = snapshots[0].mutate(None)
            self._snapshot_states.put(key, state)
        return state

    def aggregate_as_of(
        self,
        cls: type[A],
        aggregate_id: UUID,
        what: str,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> A:
        if version is not None and version < 1:
            raise InvalidRequestError("version must be 1 or more", field="version")
        aggregate: Any
        if as_of is not None:
            if as_of.utcoffset() is None:
                raise InvalidRequestError("as_of needs a timezone offset", field="as_of")
            at_time, snapshot = self._versions_at(aggregate_id, moment=as_of)
            if at_time is None:
                raise NotFoundError(f"there was no {what} {aggregate_id} at {as_of.isoformat()}")
            if version is not None and version < at_time:
                _, snapshot = self._versions_at(aggregate_id, version=version)
            else:
                version = at_time
            aggregate = self._at_version(aggregate_id, version, snapshot)
        elif version is not None:
            _, snapshot = self._versions_at(aggregate_id, version=version)
            aggregate = self._at_version(aggregate_id, version, snapshot)
        else:
            aggregate = self._load_optional(aggregate_id)
        if not isinstance(aggregate, cls):  # None included: there is none
            raise NotFoundError(f"there is no {what} {aggregate_id}")
        if version is not None and aggregate.version < version:
            raise NotFoundError(f"{what} {aggregate_id} has no version {version}")
        return aggregate

    def _placement_state(
        self, customer_id: UUID, skus: Sequence[str]
    ) -> tuple[Any, LocationNetwork | None, dict[tuple[str, str], InventoryItem]]:
        """The customer, the location network and the SKUs' inventory items, in location
        priority order: as they are, not to be changed (copy those to reserve on).

        One version query for all of them while the cached network is current (which is
        nearly always: locations are added rarely); otherwise a second one for the items at
        the locations the network now has.
        """
        cached = self.aggregates.get(LocationNetwork.ID)

        def item_ids(net: Any) -> list[UUID]:
            return _item_ids(skus, net) if isinstance(net, LocationNetwork) else []

        wanted = item_ids(cached)
        current = self._current([customer_id, LocationNetwork.ID, *wanted])
        network = current.get(LocationNetwork.ID)
        if network is not cached:
            wanted = item_ids(network)
            current.update(self._current(wanted))
        items = {}
        for item_id in wanted:
            item = current.get(item_id)
            if isinstance(item, InventoryItem):
                items[(item.sku, item.location_id)] = item
        return current.get(customer_id), network, items

    def place_order(
        self,
        *,
        order_id: UUID | None,
        customer_id: UUID,
        channel: Channel,
        currency: str,
        lines: Sequence[NewLine],
        shipping_address: Address,
        shipping_method: str | None,
        envelope: Envelope,
    ) -> CommandResult:
        """Place an order and reserve its stock in the same transaction."""
        order_id = order_id or self.new_id()
        skus = list(dict.fromkeys(line.sku for line in lines))
        attempts = 0

        def command() -> CommandResult:
            nonlocal attempts
            attempts += 1
            # Not read before the first attempt: a taken id makes the insert fail, and the
            # retry finds the order and names the conflict (not contention to retry through).
            if attempts > 1 and self._shared(order_id) is not None:
                raise AlreadyExistsError(f"order {order_id} already exists", field="id")
            at = self.clock()
            customer, network, items = self._placement_state(customer_id, skus)
            if not isinstance(customer, Customer):
                raise InvalidRequestError(
                    f"there is no customer {customer_id}: register the customer first",
                    field="customer_id",
                )
            if customer.erased:
                raise CustomerErasedError(
                    f"customer {customer_id} was erased: no new orders carry their personal"
                    " data"
                )
            priority = {loc.location_id: loc.priority for loc in network.by_priority} if (
                network
            ) else {}
            stock: dict[str, list[StockAtLocation]] = {}
            for (sku, location_id), item in items.items():
                stock.setdefault(sku, []).append(
                    StockAtLocation(location_id, priority[location_id], item.available)
                )
            plan = plan_allocation(lines, stock)
            order = Order.place(
                order_id=order_id,
                customer_id=customer_id,
                channel=channel,
                currency=currency,
                lines=lines,
                shipping_address=shipping_address,
                shipping_method=shipping_method,
                allocation=plan,
                placed_at=at,
            )
            # Copies only of the items reserved on (an item's reservations grow with its
            # open orders; the others were only looked at).
            touched: dict[tuple[str, str], InventoryItem] = {}
            for line in order.lines.values():
                for allocation in line.allocations:
                    key = (line.sku, allocation.location_id)
                    reserving = touched.get(key)
                    if reserving is None:
                        reserving = touched[key] = copy_aggregate(items[key])
                    reserving.reserve(
                        order_id=order_id, line_id=line.line_id,
                        quantity=allocation.quantity, at=at,
                    )
            return self._result(
                order, self._commit(order, *touched.values(), envelope=envelope)
            )

        return self._retrying(command)

    def _release(
        self, order_id: UUID, releases: Iterable[StockRelease], at: datetime
    ) -> list[InventoryItem]:
        items: dict[UUID, InventoryItem] = {}
        for release in releases:
            item_id = inventory_item_id(release.sku, release.location_id)
            item = items.get(item_id) or self._load(InventoryItem, item_id, "inventory item")
            item.release(
                order_id=order_id, line_id=release.line_id, quantity=release.quantity, at=at
            )
            items[item_id] = item
        return list(items.values())

    def cancel_order(
        self,
        order_id: UUID,
        *,
        reason: str,
        lines: Sequence[LineQuantity] | None,
        envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Cancel given line quantities (or all that is unshipped) and release their stock."""

        def command() -> CommandResult:
            at = self.clock()
            order = self._load(Order, order_id, "order")
            self._check_version(order, expected_version)
            releases = order.cancel(reason=reason, lines=lines, cancelled_at=at)
            items = self._release(order_id, releases, at)
            return self._result(
                order, self._commit(order, *items, envelope=envelope.with_reason(reason))
            )

        return self._retrying(command)

    # --- order commands after placement ------------------------------------------------------

    def _order_command(
        self,
        order_id: UUID,
        act: Callable[[Order, datetime], tuple[list[InventoryItem], UUID | None]],
        envelope: Envelope,
        expected_version: int | None,
        reason_of: Callable[[Order], str | None] | None = None,
    ) -> CommandResult:
        """Load the order, let ``act`` change it (and inventory), save all in one transaction;
        ``reason_of`` takes the envelope's reason from the order as the command found it."""

        def command() -> CommandResult:
            order = self._load(Order, order_id, "order")
            self._check_version(order, expected_version)
            recorded = envelope if reason_of is None else envelope.with_reason(reason_of(order))
            items, created = act(order, self.clock())
            return self._result(order, self._commit(order, *items, envelope=recorded), created)

        return self._retrying(command)

    def _on_order(
        self,
        order_id: UUID,
        change: Callable[[Order, datetime], object],
        envelope: Envelope,
        expected_version: int | None,
        created_id: UUID | None = None,
    ) -> CommandResult:
        """A command that changes the order alone (no stock moves); ``created_id`` names the
        hold, return, note... it adds, for the answer."""

        def act(order: Order, at: datetime) -> tuple[list[InventoryItem], UUID | None]:
            change(order, at)
            return [], created_id

        return self._order_command(order_id, act, envelope, expected_version)

    def _items_for(
        self, changes: Iterable[StockRelease | StockConsumption | Restock]
    ) -> dict[UUID, InventoryItem]:
        items: dict[UUID, InventoryItem] = {}
        for change in changes:
            item_id = inventory_item_id(change.sku, change.location_id)
            if item_id not in items:
                items[item_id] = self._load(InventoryItem, item_id, "inventory item")
        return items

    def place_hold(
        self, order_id: UUID, *, type: HoldType, reason: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        hold_id = self.new_id()

        return self._on_order(
            order_id,
            lambda order, at: order.place_hold(hold_id=hold_id, type=type, reason=reason, at=at),
            envelope.with_reason(reason),
            expected_version,
            created_id=hold_id,
        )

    def release_hold(
        self, order_id: UUID, hold_id: UUID, *, reason: str | None, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.release_hold(hold_id=hold_id, reason=reason, at=at),
            envelope.with_reason(reason),
            expected_version,
        )

    def reject_order(
        self, order_id: UUID, hold_id: UUID, *, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        """A hold ends in rejection: cancel everything unshipped and release its stock."""

        def act(order: Order, at: datetime) -> tuple[list[InventoryItem], UUID | None]:
            releases = order.reject(hold_id=hold_id, rejected_at=at)
            return self._release(order.id, releases, at), None

        def hold_reason(order: Order) -> str | None:
            hold = order.holds.get(str(hold_id))
            return hold.reason if hold is not None else None

        # The rejection's reason is the hold's: record it in the envelope where audits look.
        return self._order_command(order_id, act, envelope, expected_version, hold_reason)

    def authorize_payment(
        self, order_id: UUID, *, amount: Decimal, provider: str, reference: str,
        envelope: Envelope, expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.authorize(
                amount=amount, provider=provider, reference=reference, at=at
            ),
            envelope,
            expected_version,
        )

    def record_authorization_failure(
        self, order_id: UUID, *, provider: str, reason: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.record_authorization_failure(
                provider=provider, reason=reason, at=at
            ),
            envelope.with_reason(reason),
            expected_version,
        )

    def capture_payment(
        self, order_id: UUID, *, amount: Decimal, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.capture(amount=amount, at=at),
            envelope,
            expected_version,
        )

    def void_authorization(
        self, order_id: UUID, *, envelope: Envelope, expected_version: int | None = None
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.void_remaining_authorization(at=at),
            envelope,
            expected_version,
        )

    def refund_payment(
        self, order_id: UUID, *, amount: Decimal, reason: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.refund(amount=amount, reason=reason, at=at),
            envelope.with_reason(reason),
            expected_version,
        )

    def ship(
        self, order_id: UUID, *, location_id: str, lines: Sequence[LineQuantity], carrier: str,
        tracking_number: str, envelope: Envelope, expected_version: int | None = None,
    ) -> CommandResult:
        """Ship reserved units from a location; the reservations are consumed in the same
        transaction."""
        shipment_id = self.new_id()

        def act(order: Order, at: datetime) -> tuple[list[InventoryItem], UUID | None]:
            consumed = order.ship(
                shipment_id=shipment_id, location_id=location_id, lines=lines, carrier=carrier,
                tracking_number=tracking_number, shipped_at=at,
            )
            items = self._items_for(consumed)
            for c in consumed:
                items[inventory_item_id(c.sku, c.location_id)].consume(
                    order_id=order.id, line_id=c.line_id, quantity=c.quantity,
                    shipment_id=c.shipment_id, at=at,
                )
            return list(items.values()), shipment_id

        return self._order_command(order_id, act, envelope, expected_version)

    def mark_delivered(
        self, order_id: UUID, shipment_id: UUID, *, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.mark_delivered(shipment_id=shipment_id, at=at),
            envelope,
            expected_version,
        )

    def record_delivery_exception(
        self, order_id: UUID, shipment_id: UUID, *, kind: ExceptionKind, detail: str,
        envelope: Envelope, expected_version: int | None = None,
    ) -> CommandResult:
        def act(order: Order, at: datetime) -> tuple[list[InventoryItem], UUID | None]:
            order.record_delivery_exception(
                shipment_id=shipment_id, kind=kind, detail=detail, at=at
            )
            return [], None

        return self._order_command(order_id, act, envelope, expected_version)

    def change_shipping_address(
        self, order_id: UUID, *, address: Address, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.change_shipping_address(address=address, at=at),
            envelope,
            expected_version,
        )

    def request_return(
        self, order_id: UUID, *, reason: str, lines: Sequence[LineQuantity], envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return_id = self.new_id()

        return self._on_order(
            order_id,
            lambda order, at: order.request_return(
                return_id=return_id, reason=reason, lines=lines, at=at
            ),
            envelope.with_reason(reason),
            expected_version,
            created_id=return_id,
        )

    def decide_return(
        self, order_id: UUID, return_id: UUID, *, approved: bool, reason: str | None,
        envelope: Envelope, expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.approve_return(
                return_id=return_id, approved=approved, reason=reason, at=at
            ),
            envelope.with_reason(reason),
            expected_version,
        )

    def receive_return(
        self, order_id: UUID, return_id: UUID, *, location_id: str,
        lines: Sequence[ReturnedLine], envelope: Envelope, expected_version: int | None = None,
    ) -> CommandResult:
        """Receive returned units; resellable ones go back on hand in the same transaction."""

        def act(order: Order, at: datetime) -> tuple[list[InventoryItem], UUID | None]:
            self._require_location(location_id)
            restocks = order.receive_return(
                return_id=return_id, location_id=location_id, lines=lines, at=at
            )
            items: dict[UUID, InventoryItem] = {}
            for r in restocks:
                item = items.get(inventory_item_id(r.sku, r.location_id)) or (
                    self._inventory_item(r.sku, r.location_id, at)
                )
                item.restock(order_id=order.id, return_id=r.return_id, quantity=r.quantity, at=at)
                items[item.id] = item
            return list(items.values()), None

        return self._order_command(order_id, act, envelope, expected_version)

    def refund_return(
        self, order_id: UUID, return_id: UUID, *, amount: Decimal, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self._on_order(
            order_id,
            lambda order, at: order.refund_return(return_id=return_id, amount=amount, at=at),
            envelope,
            expected_version,
        )

    def add_adjustment(
        self, order_id: UUID, *, amount: Decimal, reason: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        """A goodwill credit on the order."""
        adjustment_id = self.new_id()

        return self._on_order(
            order_id,
            lambda order, at: order.add_adjustment(
                adjustment_id=adjustment_id, amount=amount, reason=reason, at=at
            ),
            envelope.with_reason(reason),
            expected_version,
            created_id=adjustment_id,
        )

    def add_order_note(
        self, order_id: UUID, *, text: str, envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        note_id = self.new_id()

        return self._on_order(
            order_id,
            lambda order, at: order.add_note(
                note_id=note_id, text=text, author=envelope.actor, at=at
            ),
            envelope,
            expected_version,
            created_id=note_id,
        )

    def allocate_backorders(
        self, order_id: UUID, *, envelope: Envelope, expected_version: int | None = None
    ) -> CommandResult:
        """Reserve stock that has arrived for the order's backordered units, best location
        first; what still cannot be reserved stays backordered."""

        def act(order: Order, at: datetime) -> tuple[list[InventoryItem], UUID | None]:
            touched: dict[UUID, InventoryItem] = {}
            for line in list(order.lines.values()):
                outstanding = line.backordered
                for loaded in self.inventory_items(line.sku):
                    item = touched.get(loaded.id, loaded)
                    quantity = min(item.available, outstanding)
                    if quantity <= 0:
                        continue
                    reservation = order.allocate_backorder(
                        line_id=line.line_id, location_id=item.location_id,
                        quantity=quantity, at=at,
                    )
                    item.reserve(order_id=order.id, line_id=reservation.line_id,
                                 quantity=reservation.quantity, at=at)
                    touched[item.id] = item
                    outstanding -= quantity
            return list(touched.values()), None

        return self._order_command(order_id, act, envelope, expected_version)
