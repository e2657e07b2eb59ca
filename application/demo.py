"""Demo data: a small shop's first weeks, recorded through the public commands.

A demo is only useful when every screen has something real to show — orders in every state,
split parcels, backorders that a restock later fills, holds, refunds, returns — and when two
runs can be compared: the same seed must record the same log, event for event, so a demo
database is also a fixture for projections, rebuilds and benchmarks. So every choice comes
from ``random.Random(seed)``, the application's clock and id generator are replaced for the
run by seeded ones, and envelopes get seeded command ids.

The run is a small discrete-event simulation: each order's story (placed, paid, shipped,
delivered, returned ...) schedules its next step some hours or days later, restocks arrive
every week, and one queue plays all steps in time order. That interleaves orders the way a
real shop does, and lets a restock allocate backorders of orders placed days before. Every
step is a normal command, so the domain rules still decide; a step looks at the order as the
last command left it and only asks for what that state allows (ships only what is reserved at
that location, refunds at most what was captured).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from uuid import UUID

from application.envelope import Envelope
from application.errors import AlreadyExistsError
from application.order_management import CommandResult, OrderManagement
from domain.money import ZERO, round_money
from domain.order import Order
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import (
    Address,
    AdjustmentReason,
    Channel,
    ConsentChannel,
    ExceptionKind,
    HoldType,
    LocationKind,
    ReturnCondition,
)

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday morning
ORDER_WINDOW = timedelta(days=28)
RESTOCK_EVERY = timedelta(weeks=1)  # Monday mornings
CURRENCY = "EUR"
TAX = Decimal("0.19")

# What ``DemoSummary.paths`` counts: orders that went through each of these at least once.
PATHS: tuple[str, ...] = (
    "left_open",  # placed, nothing shipped or cancelled by the end of the run
    "authorized",
    "captured",
    "authorization_failed",
    "authorization_voided",
    "hold_fraud",
    "hold_payment",
    "hold_address",
    "held_released",
    "held_rejected",
    "address_changed",
    "split_across_locations",
    "backordered",
    "backorder_allocated",
    "partly_cancelled",
    "fully_cancelled",
    "partly_shipped",
    "fully_shipped",
    "delivered",
    "delivery_exception",
    "return_requested",
    "return_rejected",
    "returned_resellable",
    "returned_damaged",
    "return_refunded",
    "payment_refunded",
    "goodwill_adjustment",
    "order_note",
)

# The story each order is meant to live (weights out of 100). What actually happens also
# depends on stock: a fully backordered order cannot ship until a restock reaches it.
SCENARIOS: dict[str, int] = {
    "open": 5,
    "awaiting_shipment": 5,
    "in_transit": 8,
    "delivered": 30,
    "partly_shipped": 5,
    "partly_cancelled": 6,
    "cancelled": 5,
    "held_released": 8,
    "held_rejected": 3,
    "auth_failure": 4,
    "delivery_exception": 6,
    "returned": 12,
    "return_rejected": 3,
}
# Stories that keep shipping what a restock allocates later, and deliver what they ship.
_SHIPS = frozenset({
    "in_transit", "delivered", "partly_cancelled", "held_released", "auth_failure",
    "delivery_exception", "returned", "return_rejected",
})
_DELIVERS = _SHIPS - {"in_transit"} | {"partly_shipped"}
_RETURNS = frozenset({"returned", "return_rejected"})


@dataclass(frozen=True)
class DemoSummary:
    """What a demo run recorded: sizes, events, and how many orders took each path."""

    customers: int
    skus: int
    locations: int
    orders: int
    events: int
    paths: dict[str, int]  # every name in PATHS, with the number of orders that took it
    statuses: dict[str, int]  # final order status -> number of orders
    first_at: datetime  # simulated time of the first and last command
    last_at: datetime


class DemoClock:
    """Simulated time. The run moves it to each step's moment (never backwards); every reading
    then moves it on by a second or two, so the events of consecutive commands never share a
    timestamp and the log reads like a real day."""

    def __init__(self, start: datetime, rng: random.Random) -> None:
        self.now = start
        self._rng = rng

    def move_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=self._rng.randint(300, 2500))
        return self.now


# --- the shop -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    location_id: str
    name: str
    kind: LocationKind
    priority: int


BERLIN, LEIPZIG, MUNICH, HAMBURG = "berlin-dc", "leipzig-dc", "munich-store", "hamburg-store"
LOCATIONS: tuple[_Place, ...] = (
    _Place(BERLIN, "Berlin distribution centre", LocationKind.WAREHOUSE, 10),
    _Place(LEIPZIG, "Leipzig home-goods warehouse", LocationKind.WAREHOUSE, 20),
    _Place(MUNICH, "Munich flagship store", LocationKind.STORE, 30),
    _Place(HAMBURG, "Hamburg store", LocationKind.STORE, 40),
)
STORES = (MUNICH, HAMBURG)


@dataclass(frozen=True)
class _Product:
    sku: str
    price: Decimal
    home: bool  # home goods live in Leipzig, apparel in Berlin
    scarce: bool  # limited runs: little stock, small restocks, so they backorder
    popularity: int


def _catalog() -> tuple[_Product, ...]:
    apparel: list[tuple[str, str, int]] = [
        *[(f"JEANS-{w}", "79.90", 4) for w in (30, 32, 34, 36)],
        *[(f"TEE-{s}-{c}", "19.90", 6) for c in ("BLK", "WHT") for s in ("S", "M", "L")],
        *[(f"HOODIE-{s}-{c}", "59.90", 3) for c in ("GRY", "NVY") for s in ("M", "L")],
        ("SWEAT-M-OAT", "49.90", 3), ("SWEAT-L-OAT", "49.90", 2),
        ("CHINO-32-SND", "69.90", 3), ("CHINO-34-SND", "69.90", 2),
        ("DRESS-S-RED", "89.90", 2), ("DRESS-M-RED", "89.90", 2),
        ("JACKET-M-OLV", "149.00", 2), ("JACKET-L-OLV", "149.00", 2),
        ("SOCKS-3PK-BLK", "12.90", 5), ("SOCKS-3PK-WHT", "12.90", 4),
        ("CAP-BLK", "24.90", 2), ("BEANIE-GRY", "19.90", 3),
        ("SCARF-WOOL-CAM", "39.90", 2), ("BELT-LTH-BRN", "34.90", 2),
        *[(f"SNEAKER-{n}-WHT", "99.00", 3) for n in (42, 43, 44)],
    ]
    home: list[tuple[str, str, int]] = [
        ("MUG-STONE-GRY", "14.90", 4), ("MUG-STONE-BLU", "14.90", 3),
        ("PLATE-SET-4", "39.90", 2), ("BOWL-SET-4", "34.90", 2),
        ("TOWEL-BATH-WHT", "24.90", 3), ("TOWEL-HAND-WHT", "12.90", 3),
        ("DUVET-COVER-DBL", "79.90", 2), ("PILLOW-CASE-2PK", "24.90", 2),
        ("THROW-WOOL-GRY", "69.90", 2), ("CUSHION-LIN-SND", "29.90", 2),
        ("CANDLE-FIG", "19.90", 3), ("CANDLE-CEDAR", "19.90", 3),
        ("VASE-CERAMIC-M", "44.90", 1), ("LAMP-DESK-BRS", "119.00", 2),
        ("RUG-JUTE-120", "99.00", 1), ("BASKET-SEAGRASS", "29.90", 2),
        ("APRON-LIN-NAT", "27.90", 1), ("TEAPOT-CAST-BLK", "54.90", 2),
        ("FRAME-A4-OAK", "22.90", 2),
    ]
    scarce = {"JEANS-36", "DRESS-S-RED", "JACKET-L-OLV", "SNEAKER-44-WHT", "THROW-WOOL-GRY",
              "LAMP-DESK-BRS", "RUG-JUTE-120", "TEAPOT-CAST-BLK"}
    return tuple(
        _Product(sku, Decimal(price), is_home, sku in scarce, 1 if sku in scarce else popularity)
        for group, is_home in ((apparel, False), (home, True))
        for sku, price, popularity in group
    )


@dataclass(frozen=True)
class _Person:
    name: str
    city: str
    postal_code: str
    country: str
    street: str


PEOPLE: tuple[_Person, ...] = (
    _Person("Anna Schmidt", "Berlin", "10115", "DE", "Torstraße"),
    _Person("Lukas Müller", "Berlin", "10437", "DE", "Kastanienallee"),
    _Person("Sophie Weber", "Hamburg", "20357", "DE", "Schanzenstraße"),
    _Person("Jonas Fischer", "Hamburg", "22765", "DE", "Ottenser Hauptstraße"),
    _Person("Marie Wagner", "München", "80802", "DE", "Leopoldstraße"),
    _Person("Felix Becker", "München", "81667", "DE", "Weißenburger Straße"),
    _Person("Lena Hoffmann", "Köln", "50672", "DE", "Ehrenstraße"),
    _Person("Paul Schäfer", "Köln", "50677", "DE", "Severinstraße"),
    _Person("Emma Koch", "Frankfurt am Main", "60316", "DE", "Berger Straße"),
    _Person("Leon Richter", "Frankfurt am Main", "60594", "DE", "Schweizer Straße"),
    _Person("Mia Klein", "Leipzig", "04109", "DE", "Karl-Liebknecht-Straße"),
    _Person("Noah Wolf", "Leipzig", "04275", "DE", "Kochstraße"),
    _Person("Hannah Neumann", "Dresden", "01099", "DE", "Alaunstraße"),
    _Person("Elias Schwarz", "Stuttgart", "70178", "DE", "Tübinger Straße"),
    _Person("Clara Zimmermann", "Düsseldorf", "40213", "DE", "Bolkerstraße"),
    _Person("Ben Krüger", "Bremen", "28203", "DE", "Ostertorsteinweg"),
    _Person("Lea Hartmann", "Nürnberg", "90402", "DE", "Karolinenstraße"),
    _Person("Finn Lange", "Hannover", "30159", "DE", "Lister Meile"),
    _Person("Ella Werner", "Münster", "48143", "DE", "Prinzipalmarkt"),
    _Person("Tim Krause", "Freiburg im Breisgau", "79098", "DE", "Bertoldstraße"),
    _Person("Julia Gruber", "Wien", "1060", "AT", "Mariahilfer Straße"),
    _Person("David Huber", "Graz", "8010", "AT", "Herrengasse"),
    _Person("Sarah Bauer", "Salzburg", "5020", "AT", "Linzer Gasse"),
    _Person("Daan de Vries", "Amsterdam", "1015", "NL", "Prinsengracht"),
    _Person("Sanne Jansen", "Utrecht", "3512", "NL", "Oudegracht"),
    _Person("Camille Martin", "Paris", "75004", "FR", "Rue de Rivoli"),
    _Person("Louis Bernard", "Lyon", "69002", "FR", "Rue de la République"),
    _Person("Nina Peeters", "Bruxelles", "1050", "BE", "Avenue Louise"),
    _Person("Luca Rossi", "Milano", "20121", "IT", "Via Brera"),
    _Person("Olivia Brown", "Dublin", "D02 X285", "IE", "Grafton Street"),
)

_DIAL = {"DE": "+49", "AT": "+43", "NL": "+31", "FR": "+33", "BE": "+32", "IT": "+39",
         "IE": "+353"}
# Emails stay ASCII: umlauts spelled out as Germans do in addresses.
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e"})
_CUSTOMER_NOTES = (
    "Prefers delivery after 6 pm; neighbours accept parcels.",
    "Regular since 2019. Escalate complaints to ben.",
    "Asked not to be called before 10 am.",
    "Wholesale enquiry in December; sent to B2B team.",
    "Sizes run large for this customer: suggest one size down.",
    "Allergic to wool: check materials before recommending.",
)
_ORDER_NOTES = (
    "Customer called to ask when the parcel ships.",
    "Gift: please leave out the invoice.",
    "Customer asked to combine with their previous order; not possible, explained.",
    "Delivery instructions: leave with the concierge.",
    "Checked stock for the customer in the Munich store.",
    "Customer asked for a different colour; advised to return and reorder.",
)


@dataclass
class _Customer:
    customer_id: UUID
    person: _Person
    address: Address
    work_address: Address | None
    weight: int


@dataclass
class _Story:
    """One order's planned life and what has happened to it so far."""

    scenario: str
    channel: Channel
    customer: _Customer
    lines: tuple[NewLine, ...]
    order_id: UUID
    correlation_id: UUID | None = None
    last_command: UUID | None = None
    actor: tuple[str, str, str] = ("web-shop", "client", "web")
    prepaid: bool = False
    pending: int = 0
    reported: bool = False
    hold_id: UUID | None = None
    returning: bool = False
    exception_done: bool = False
    backordered_skus: frozenset[str] = frozenset()
    tags: set[str] = field(default_factory=set)
    order: Order | None = None  # as the last command left it


def _gross(order: Order, quantities: Iterable[tuple[str, int]]) -> Decimal:
    """What the customer paid for these units, tax included (rounded like an invoice)."""
    total = sum(
        (
            round_money(q * order.lines[line_id].unit_price * (1 + order.lines[line_id].tax_rate),
                        order.currency)
            for line_id, q in quantities
        ),
        ZERO,
    )
    return round_money(total, order.currency)


def _owed(order: Order) -> Decimal:
    totals = order.totals
    return totals.ordered - totals.cancelled + totals.tax


def _created(result: CommandResult) -> UUID:
    """The id of what the command created (a shipment, a return): it always answers one."""
    if result.created_id is None:
        raise RuntimeError(f"command on {result.id} answered no created id")
    return result.created_id


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 3600))


class _DemoRun:
    """Plays one demo: the shop, the customers, then every order's story in time order."""

    def __init__(
        self,
        oms: OrderManagement,
        seed: int,
        orders: int,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.oms = oms
        self.rng = random.Random(seed)
        # Separate seeded streams for ids and clock ticks, so a change in how many ids a
        # command draws does not reshuffle every later business choice.
        self._ids = random.Random(self.rng.getrandbits(64))
        self.clock = DemoClock(START, random.Random(self.rng.getrandbits(64)))
        self.orders = orders
        self.on_progress = on_progress
        self.catalog = _catalog()
        self.customers: list[_Customer] = []
        self.stories: list[_Story] = []
        self.backlog: list[_Story] = []  # stories with backordered units, oldest first
        self._queue: list[tuple[datetime, int, Callable[[], None], _Story | None]] = []
        self._sequence = 0

    # --- plumbing ---------------------------------------------------------------------------

    def new_id(self) -> UUID:
        return UUID(int=self._ids.getrandbits(128), version=4)

    def envelope(
        self, actor: str, role: str, channel: str, story: _Story | None = None,
        reason: str | None = None,
    ) -> Envelope:
        """A seeded command id; an order's commands correlate with the one that placed it
        and are caused by the previous one, as a care agent reading the timeline expects."""
        command_id = self.new_id()
        if story is None:
            return Envelope(actor, role, channel, reason, command_id)
        sent = Envelope(
            actor, role, channel, reason, command_id,
            correlation_id=story.correlation_id, causation_id=story.last_command,
        )
        story.last_command = command_id
        return sent

    def on(self, story: _Story, result: CommandResult) -> Order:
        """Remember the order as the command left it. The demo is the only writer, so the
        next step decides from this copy instead of reading the order again (half the reads
        of a run otherwise)."""
        order: Order = result.aggregate
        story.order = order
        return order

    @staticmethod
    def order(story: _Story) -> Order:
        if story.order is None:
            raise RuntimeError(f"order {story.order_id} is not placed yet")
        return story.order

    def agent(self, story: _Story | None = None, reason: str | None = None) -> Envelope:
        return self.envelope(self.rng.choice(("ana", "ben")), "agent", "console", story, reason)

    def customer_side(self, story: _Story) -> Envelope:
        """Whoever speaks for the customer on the order's channel (shop, POS, agent...)."""
        actor, role, channel = story.actor
        return self.envelope(actor, role, channel, story)

    def gateway(self, story: _Story, reason: str | None = None) -> Envelope:
        return self.envelope("payment-gateway", "client", "psp", story, reason)

    def at(self, delay: timedelta, action: Callable[[], None], story: _Story | None) -> None:
        self._sequence += 1
        if story is not None:
            story.pending += 1
        heapq.heappush(self._queue, (self.clock.now + delay, self._sequence, action, story))

    def run(self) -> DemoSummary:
        before = self.oms.recorder.max_notification_id() or 0
        if before:
            raise AlreadyExistsError(
                "the database already holds events: demo data goes into an empty database"
            )
        first_at = self.clock.now
        self.open_shop()
        self.register_customers()
        self.schedule_orders()
        while self._queue:
            moment, _, action, story = heapq.heappop(self._queue)
            self.clock.move_to(moment)
            action()
            if story is not None:
                story.pending -= 1
                self._report_if_done(story)
        for story in self.stories:
            self._report_if_done(story, force=True)
        last_at = self.clock.now
        paths = Counter[str]()
        statuses = Counter[str]()
        for story in self.stories:
            order = self.order(story)
            statuses[str(order.status)] += 1
            if order.status == "open" and not any(ln.cancelled for ln in order.lines.values()):
                story.tags.add("left_open")
            paths.update(story.tags)
        events = (self.oms.recorder.max_notification_id() or 0) - before
        return DemoSummary(
            customers=len(self.customers), skus=len(self.catalog), locations=len(LOCATIONS),
            orders=len(self.stories), events=events,
            paths={name: paths[name] for name in PATHS}, statuses=dict(sorted(statuses.items())),
            first_at=first_at, last_at=last_at,
        )

    def _report_if_done(self, story: _Story, *, force: bool = False) -> None:
        if not story.reported and (force or story.pending == 0):
            story.reported = True
            if self.on_progress is not None:
                self.on_progress(1)

    # --- the shop and its customers ----------------------------------------------------------

    def expected_demand(self, product: _Product) -> float:
        """Units of ``product`` the whole run is likely to order (about 2.3 per order)."""
        total = sum(p.popularity for p in self.catalog)
        return self.orders * 2.3 * product.popularity / total

    def open_shop(self) -> None:
        ops = partial(self.envelope, "ops", "admin", "console")
        for place in LOCATIONS:
            self.oms.add_location(
                location_id=place.location_id, name=place.name, kind=place.kind,
                priority=place.priority, envelope=ops(),
            )
        wms = partial(self.envelope, "wms", "client", "wms")
        for product in self.catalog:
            demand = self.expected_demand(product)
            primary = LEIPZIG if product.home else BERLIN
            if product.scarce:
                # A handful, scattered: the first orders split across locations, later
                # ones backorder until a restock.
                spots = self.rng.sample([BERLIN, LEIPZIG, *STORES], self.rng.randint(1, 2))
                stock = [(loc, 1) for loc in spots]
            else:
                stock = [(primary, max(3, round(demand * self.rng.uniform(0.3, 0.5))))]
                if not product.home and self.rng.random() < 0.3:
                    stock.append((LEIPZIG, self.rng.randint(2, 6)))
                if product.home and self.rng.random() < 0.3:
                    stock.append((BERLIN, self.rng.randint(1, 4)))
                for store in STORES:
                    if self.rng.random() < 0.5:
                        stock.append((store, self.rng.randint(2, 6)))
            for location_id, quantity in stock:
                self.oms.receive_stock(
                    sku=product.sku, location_id=location_id, quantity=quantity, envelope=wms(),
                )
                if location_id in STORES and self.rng.random() < 0.6:
                    # Display units stay on the shop floor.
                    self.oms.set_safety_stock(
                        sku=product.sku, location_id=location_id, quantity=1, envelope=ops(),
                    )
            if not product.scarce and product.popularity >= 5:
                self.oms.set_safety_stock(
                    sku=product.sku, location_id=primary, quantity=self.rng.randint(2, 4),
                    envelope=ops(),
                )
        moment = RESTOCK_EVERY
        while moment <= ORDER_WINDOW + timedelta(days=7):
            self.at(moment - timedelta(hours=2), self.restock, None)
            moment += RESTOCK_EVERY

    def _address(self, person: _Person, line2: str | None = None) -> Address:
        return Address(person.name, f"{person.street} {self.rng.randint(1, 140)}", line2,
                       person.city, person.postal_code, person.country)

    def register_customers(self) -> None:
        for person in PEOPLE:
            first, _, last = person.name.partition(" ")
            email = f"{first}.{last}".lower().replace(" ", "") + "@example.com"
            email = email.translate(_ASCII)
            phone = None
            if self.rng.random() < 0.6:
                phone = (f"{_DIAL[person.country]} {self.rng.randint(30, 899)}"
                         f" {self.rng.randint(1000000, 9999999)}")
            address = self._address(
                person, self.rng.choice((None, None, None, "2. OG", "c/o Studio 4")),
            )
            by_phone = self.rng.random() < 0.2
            sent = (self.envelope("ana", "agent", "phone") if by_phone
                    else self.envelope("web-shop", "client", "web"))
            result = self.oms.register_customer(
                customer_id=self.new_id(), name=person.name, email=email, phone=phone,
                address=address, envelope=sent,
            )
            customer = _Customer(result.id, person, address, None, self.rng.choice((1, 1, 2, 3, 5)))
            self.customers.append(customer)
            if self.rng.random() < 0.25:
                work = Address(person.name, f"{self.rng.choice(('Hauptstraße', 'Marktplatz'))}"
                               f" {self.rng.randint(1, 60)}", "Büro, 3. Etage", person.city,
                               person.postal_code, person.country)
                self.oms.add_customer_address(
                    customer.customer_id, label="work", address=work,
                    envelope=self.envelope("web-shop", "client", "web"),
                )
                customer.work_address = work
            if self.rng.random() < 0.7:
                self.oms.record_consent(
                    customer.customer_id, channel=ConsentChannel.EMAIL, granted=True,
                    envelope=self.envelope("web-shop", "client", "web"),
                )
                if self.rng.random() < 0.15:
                    self.oms.record_consent(
                        customer.customer_id, channel=ConsentChannel.EMAIL, granted=False,
                        envelope=self.envelope("web-shop", "client", "web",
                                               reason="unsubscribed from newsletter"),
                    )
            if phone is not None and self.rng.random() < 0.4:
                self.oms.record_consent(
                    customer.customer_id, channel=ConsentChannel.SMS, granted=True,
                    envelope=self.envelope("web-shop", "client", "web"),
                )
            if self.rng.random() < 0.3:
                self.oms.add_customer_note(
                    customer.customer_id, text=self.rng.choice(_CUSTOMER_NOTES),
                    envelope=self.agent(),
                )

    # --- orders -----------------------------------------------------------------------------

    def schedule_orders(self) -> None:
        mean_gap = ORDER_WINDOW.total_seconds() / max(self.orders, 1)
        offset = timedelta(hours=1)
        weights = [c.weight for c in self.customers]
        for _ in range(self.orders):
            scenario = self.rng.choices(list(SCENARIOS), list(SCENARIOS.values()))[0]
            channel = self.rng.choices(
                (Channel.WEB, Channel.MARKETPLACE, Channel.STORE, Channel.PHONE, Channel.AGENT),
                (48, 16, 14, 12, 10),
            )[0]
            customer = self.rng.choices(self.customers, weights)[0]
            story = _Story(
                scenario=scenario, channel=channel, customer=customer,
                lines=self.choose_lines(at_least=2 if scenario.startswith("partly") else 1),
                order_id=self.new_id(),
            )
            self.stories.append(story)
            self.at(offset, partial(self.place, story), story)
            offset += timedelta(seconds=max(60, round(self.rng.expovariate(1 / mean_gap))))

    def choose_lines(self, at_least: int) -> tuple[NewLine, ...]:
        count = max(at_least, self.rng.choices((1, 2, 3, 4), (45, 30, 17, 8))[0])
        weights = [p.popularity for p in self.catalog]
        chosen: list[_Product] = []
        while len(chosen) < count:
            product = self.rng.choices(self.catalog, weights)[0]
            if product not in chosen:
                chosen.append(product)
        return tuple(
            NewLine(p.sku, self.rng.choices((1, 2, 3), (80, 15, 5))[0], p.price, TAX)
            for p in chosen
        )

    def place(self, story: _Story) -> None:
        channel = story.channel
        if channel is Channel.WEB:
            story.actor = ("web-shop", "client", "web")
        elif channel is Channel.MARKETPLACE:
            story.actor = ("marketplace-bridge", "client", "marketplace")
        elif channel is Channel.STORE:
            story.actor = (self.rng.choice(("pos-munich", "pos-hamburg")), "client", "store")
        else:
            story.actor = (self.rng.choice(("ana", "ben")), "agent",
                           "phone" if channel is Channel.PHONE else "console")
        story.prepaid = channel in (Channel.MARKETPLACE, Channel.STORE)
        customer = story.customer
        address = customer.address
        if customer.work_address is not None and self.rng.random() < 0.3:
            address = customer.work_address
        method = "click_and_collect" if channel is Channel.STORE and self.rng.random() < 0.5 \
            else self.rng.choices(("standard", "express"), (80, 20))[0]
        sent = self.customer_side(story)
        story.correlation_id = sent.correlation_id
        order = self.on(story, self.oms.place_order(
            order_id=story.order_id, customer_id=customer.customer_id, channel=channel,
            currency=CURRENCY, lines=story.lines, shipping_address=address,
            shipping_method=method, envelope=sent,
        ))
        if len({a.location_id for ln in order.lines.values() for a in ln.allocations}) > 1:
            story.tags.add("split_across_locations")
        self.track_backorders(story, order)
        if self.rng.random() < 0.1:
            self.at(_hours(self.rng, 1, 72), partial(self.note, story), story)
        self.begin(story, order)

    def track_backorders(self, story: _Story, order: Order) -> None:
        skus = frozenset(ln.sku for ln in order.lines.values() if ln.backordered)
        if skus and "backordered" not in story.tags:
            story.tags.add("backordered")
            self.backlog.append(story)
        story.backordered_skus = skus

    def begin(self, story: _Story, order: Order) -> None:
        """The first steps after placement, by scenario."""
        scenario = story.scenario
        if scenario == "open":
            if story.channel is Channel.WEB and self.rng.random() < 0.5:
                self.authorize(story, order)
            return
        if scenario == "auth_failure":
            self.fail_authorization(story)
            self.at(_hours(self.rng, 0.3, 6), partial(self.retry_payment, story), story)
            return
        if scenario in ("held_released", "held_rejected"):
            self.hold(story, order)
            return
        order = self.authorize(story, order)
        if scenario == "awaiting_shipment":
            return
        if scenario in ("cancelled", "partly_cancelled"):
            self.at(_hours(self.rng, 0.3, 10), partial(self.cancel, story), story)
            return
        self.at(_hours(self.rng, 3, 30), partial(self.ship, story), story)

    # --- payments ---------------------------------------------------------------------------

    def provider(self, story: _Story) -> str:
        if story.channel is Channel.MARKETPLACE:
            return "marketplace"
        if story.channel is Channel.STORE:
            return "pos-terminal"
        return self.rng.choice(("adyen", "stripe", "paypal"))

    def authorize(self, story: _Story, order: Order) -> Order:
        amount = _owed(order)
        if amount <= 0:
            return order
        provider = self.provider(story)
        reference = f"{provider[:3].upper()}-{self.rng.randrange(16**10):010X}"
        order = self.on(story, self.oms.authorize_payment(
            story.order_id, amount=amount, provider=provider, reference=reference,
            envelope=self.customer_side(story),
        ))
        story.tags.add("authorized")
        if story.prepaid:
            # Marketplaces and tills collect the money up front.
            order = self.on(story, self.oms.capture_payment(
                story.order_id, amount=amount, envelope=self.customer_side(story),
            ))
            story.tags.add("captured")
        return order

    def fail_authorization(self, story: _Story) -> None:
        self.on(story, self.oms.record_authorization_failure(
            story.order_id, provider=self.provider(story),
            reason=self.rng.choice(("card declined", "3-D Secure not completed",
                                    "insufficient funds", "card expired")),
            envelope=self.customer_side(story),
        ))
        story.tags.add("authorization_failed")

    def retry_payment(self, story: _Story) -> None:
        order = self.order(story)
        if self.rng.random() < 0.7:
            self.authorize(story, order)
            self.at(_hours(self.rng, 3, 30), partial(self.ship, story), story)
            return
        self.fail_authorization(story)
        self.at(_hours(self.rng, 20, 50), partial(self.cancel, story, everything=True,
                                                  reason="payment never completed"), story)

    def settle(self, story: _Story, order: Order, shipped: Sequence[LineQuantity]) -> Order:
        """Capture what just shipped; once nothing is left to ship, void what remains."""
        if not story.prepaid and order.authorization_remaining > 0:
            amount = min(_gross(order, ((q.line_id, q.quantity) for q in shipped)),
                         order.authorization_remaining)
            if amount > 0:
                order = self.on(story, self.oms.capture_payment(
                    story.order_id, amount=amount, envelope=self.gateway(story),
                ))
                story.tags.add("captured")
        if order.unshipped == 0:
            order = self.void(story, order)
        return order

    def void(self, story: _Story, order: Order) -> Order:
        if order.authorization_remaining > 0:
            order = self.on(story, self.oms.void_authorization(
                story.order_id, envelope=self.gateway(story),
            ))
            story.tags.add("authorization_voided")
        return order

    def refund(self, story: _Story, order: Order, amount: Decimal, reason: str) -> Order:
        amount = min(amount, order.refundable)
        if amount <= 0:
            return order
        order = self.on(story, self.oms.refund_payment(
            story.order_id, amount=amount, reason=reason, envelope=self.agent(story),
        ))
        story.tags.add("payment_refunded")
        return order

    # --- holds and cancellations ------------------------------------------------------------

    def hold(self, story: _Story, order: Order) -> None:
        rejected = story.scenario == "held_rejected"
        kind = self.rng.choices(
            (HoldType.FRAUD, HoldType.PAYMENT, HoldType.ADDRESS),
            (70, 30, 0) if rejected else (40, 30, 30),
        )[0]
        if kind is HoldType.PAYMENT:
            self.fail_authorization(story)
            reason = "authorization declined; waiting for the customer to update payment"
            sent = self.gateway(story, reason)
        else:
            self.authorize(story, order)
            if kind is HoldType.FRAUD:
                reason = f"fraud score {self.rng.randint(81, 99)} above threshold 80"
                sent = self.envelope("risk-engine", "client", "risk", story)
            else:
                reason = "address could not be validated: house number missing"
                sent = self.envelope("web-shop", "client", "web", story)
        placed = self.oms.place_hold(story.order_id, type=kind, reason=reason, envelope=sent)
        self.on(story, placed)
        story.hold_id = _created(placed)
        story.tags.add(f"hold_{kind}")
        self.at(_hours(self.rng, 1, 20), partial(self.end_hold, story, kind), story)

    def end_hold(self, story: _Story, kind: HoldType) -> None:
        if story.hold_id is None:  # place_hold always answers the hold's id
            return
        if story.scenario == "held_rejected":
            order = self.on(story, self.oms.reject_order(
                story.order_id, story.hold_id, envelope=self.agent(story),
            ))
            story.tags.add("held_rejected")
            self.void(story, order)
            self.forget_backorders(story)
            return
        order = self.order(story)
        if kind is HoldType.PAYMENT:
            self.authorize(story, order)
            reason = "customer updated the payment method"
        elif kind is HoldType.ADDRESS:
            customer = story.customer
            corrected = customer.work_address or self._address(customer.person)
            self.on(story, self.oms.change_shipping_address(
                story.order_id, address=corrected, envelope=self.agent(story),
            ))
            story.tags.add("address_changed")
            reason = "address confirmed with the customer by phone"
        else:
            reason = "identity verified by phone; billing and shipping match"
        self.on(story, self.oms.release_hold(
            story.order_id, story.hold_id, reason=reason, envelope=self.agent(story),
        ))
        story.tags.add("held_released")
        self.at(_hours(self.rng, 2, 24), partial(self.ship, story), story)

    def cancel(self, story: _Story, *, everything: bool = False, reason: str | None = None
               ) -> None:
        order = self.order(story)
        whole = everything or story.scenario == "cancelled"
        lines: list[LineQuantity] | None = None
        if not whole:
            # Prefer the line that is waiting for stock: that is what customers give up on.
            open_lines = sorted(
                (ln for ln in order.lines.values() if ln.cancellable > 0),
                key=lambda ln: (-ln.backordered, ln.line_id),
            )
            if len(open_lines) > 1:
                lines = [LineQuantity(open_lines[0].line_id, open_lines[0].cancellable)]
            elif open_lines and open_lines[0].cancellable > 1:
                lines = [LineQuantity(open_lines[0].line_id, 1)]
            else:
                self.at(_hours(self.rng, 2, 24), partial(self.ship, story), story)
                return
        reason = reason or self.rng.choice((
            "customer changed their mind", "ordered the wrong size", "ordered twice by mistake",
            "found it cheaper elsewhere", "delivery would take too long",
        ))
        sent = self.agent(story) if story.actor[1] == "agent" or self.rng.random() < 0.4 \
            else self.customer_side(story)
        before = order
        order = self.on(story, self.oms.cancel_order(
            story.order_id, reason=reason, lines=lines, envelope=sent,
        ))
        story.tags.add("fully_cancelled" if lines is None else "partly_cancelled")
        self.track_backorders(story, order)
        if lines is None:
            order = self.void(story, order)
            self.refund(story, order, order.refundable, "order cancelled before shipping")
            return
        cancelled = [(q.line_id, q.quantity) for q in lines]
        if story.prepaid:
            self.refund(story, order, _gross(before, cancelled), "cancelled items")
        self.at(_hours(self.rng, 2, 24), partial(self.ship, story), story)

    def forget_backorders(self, story: _Story) -> None:
        story.backordered_skus = frozenset()

    # --- fulfilment -------------------------------------------------------------------------

    def ship(self, story: _Story) -> None:
        """Ship what is reserved, one parcel per location (only the first parcel, or part of
        it, when the story is a partial shipment)."""
        order = self.order(story)
        if order.is_on_hold or order.is_cancelled:
            return
        priority = {p.location_id: p.priority for p in LOCATIONS}
        reserved = sorted({a.location_id for ln in order.lines.values() for a in ln.allocations},
                          key=priority.__getitem__)
        partial_story = story.scenario == "partly_shipped" and "partly_shipped" not in story.tags
        shipped = False
        for location_id in reserved:
            wanted = [LineQuantity(ln.line_id, ln.allocated_at(location_id))
                      for ln in order.lines.values() if ln.allocated_at(location_id)]
            if partial_story and order.unshipped == sum(q.quantity for q in wanted):
                # Everything left is here: keep one unit back so the parcel is partial.
                first = wanted[0]
                if first.quantity > 1:
                    wanted[0] = LineQuantity(first.line_id, first.quantity - 1)
                elif len(wanted) > 1:
                    wanted = wanted[:-1]
            carrier = self.rng.choices(("DHL", "DPD", "GLS"), (60, 25, 15))[0]
            digits = {"DHL": 18, "DPD": 14, "GLS": 11}[carrier]
            tracking = ("JJD" if carrier == "DHL" else "") + "".join(
                str(self.rng.randrange(10)) for _ in range(digits)
            )
            result = self.oms.ship(
                story.order_id, location_id=location_id, lines=wanted, carrier=carrier,
                tracking_number=tracking, envelope=self.envelope("wms", "client", "wms", story),
            )
            order = self.settle(story, self.on(story, result), wanted)
            self.after_shipping(story, _created(result))
            shipped = True
            if partial_story:
                break
        if shipped:
            # Judged after every parcel of this round: a split order sent from two locations
            # at once is fully shipped, not partly.
            story.tags.add("partly_shipped" if order.unshipped else "fully_shipped")

    def after_shipping(self, story: _Story, shipment_id: UUID) -> None:
        if story.scenario == "delivery_exception" and not story.exception_done:
            story.exception_done = True
            self.at(_hours(self.rng, 24, 60), partial(self.delivery_problem, story, shipment_id),
                    story)
        elif story.scenario in _DELIVERS:
            self.at(_hours(self.rng, 20, 72), partial(self.deliver, story, shipment_id), story)

    def deliver(self, story: _Story, shipment_id: UUID) -> None:
        self.on(story, self.oms.mark_delivered(
            story.order_id, shipment_id,
            envelope=self.envelope("carrier-hub", "client", "carrier", story),
        ))
        story.tags.add("delivered")
        if story.scenario in _RETURNS and not story.returning:
            story.returning = True
            self.at(_hours(self.rng, 48, 290), partial(self.request_return, story), story)
        elif story.scenario == "delivered" and self.rng.random() < 0.06:
            self.at(_hours(self.rng, 24, 96), partial(self.goodwill, story,
                                                      "item arrived creased; kept it"), story)

    def delivery_problem(self, story: _Story, shipment_id: UUID) -> None:
        kind = self.rng.choices(
            (ExceptionKind.DELAYED, ExceptionKind.LOST, ExceptionKind.DAMAGED), (50, 30, 20),
        )[0]
        detail = {
            ExceptionKind.DELAYED: "held at the sorting centre after a storm",
            ExceptionKind.LOST: "no scan for 5 days; carrier declared the parcel lost",
            ExceptionKind.DAMAGED: "parcel arrived torn open at the depot",
        }[kind]
        order = self.on(story, self.oms.record_delivery_exception(
            story.order_id, shipment_id, kind=kind, detail=detail,
            envelope=self.envelope("carrier-hub", "client", "carrier", story),
        ))
        story.tags.add("delivery_exception")
        if kind is ExceptionKind.DELAYED:
            self.at(_hours(self.rng, 48, 96), partial(self.deliver, story, shipment_id), story)
            if self.rng.random() < 0.5:
                self.at(_hours(self.rng, 2, 12),
                        partial(self.goodwill, story, "sorry for the late delivery"), story)
            return
        parcel = order.shipment(shipment_id)
        value = _gross(order, ((q.line_id, q.quantity) for q in parcel.lines))
        order = self.on(story, self.oms.add_order_note(
            story.order_id, text=f"Parcel {parcel.tracking_number} {kind}: refunded the customer.",
            envelope=self.agent(story),
        ))
        story.tags.add("order_note")
        self.refund(story, order, value, f"parcel {kind} in transit")

    def goodwill(self, story: _Story, reason: str) -> None:
        amount = Decimal(self.rng.choice(("5.00", "10.00", "15.00")))
        self.on(story, self.oms.add_adjustment(
            story.order_id, amount=amount, reason=reason, envelope=self.agent(story, reason),
        ))
        story.tags.add("goodwill_adjustment")

    def note(self, story: _Story) -> None:
        self.on(story, self.oms.add_order_note(
            story.order_id, text=self.rng.choice(_ORDER_NOTES), envelope=self.agent(story),
        ))
        story.tags.add("order_note")

    # --- returns ----------------------------------------------------------------------------

    def request_return(self, story: _Story) -> None:
        order = self.order(story)
        returnable = [(ln.line_id, order.returnable(ln.line_id)) for ln in order.lines.values()
                      if order.returnable(ln.line_id) > 0]
        if not returnable:
            return
        chosen = self.rng.sample(returnable, self.rng.randint(1, len(returnable)))
        lines = [LineQuantity(line_id, self.rng.randint(1, n)) for line_id, n in sorted(chosen)]
        reason = self.rng.choice(("too small", "too large", "not as pictured",
                                  "arrived damaged", "changed my mind"))
        sent = self.customer_side(story) if story.actor[1] == "client" else self.agent(story)
        requested = self.oms.request_return(
            story.order_id, reason=reason, lines=lines, envelope=sent,
        )
        self.on(story, requested)
        return_id = _created(requested)
        story.tags.add("return_requested")
        self.at(_hours(self.rng, 2, 30), partial(self.decide_return, story, return_id, lines,
                                                 reason), story)

    def decide_return(self, story: _Story, return_id: UUID, lines: list[LineQuantity],
                      reason: str) -> None:
        approved = story.scenario == "returned"
        decision = self.rng.choice(("within the 30-day window", "approved by care")) \
            if approved else self.rng.choice(("outside the 30-day return window",
                                              "item shows signs of wear"))
        self.on(story, self.oms.decide_return(
            story.order_id, return_id, approved=approved, reason=decision,
            envelope=self.agent(story),
        ))
        if not approved:
            story.tags.add("return_rejected")
            return
        self.at(_hours(self.rng, 72, 190), partial(self.receive_return, story, return_id, lines,
                                                   reason), story)

    def receive_return(self, story: _Story, return_id: UUID, lines: list[LineQuantity],
                       reason: str) -> None:
        received: list[ReturnedLine] = []
        damaged_odds = 0.7 if reason == "arrived damaged" else 0.15
        for q in lines:
            damaged = sum(self.rng.random() < damaged_odds for _ in range(q.quantity))
            if q.quantity - damaged:
                received.append(ReturnedLine(q.line_id, q.quantity - damaged,
                                             ReturnCondition.RESELLABLE))
            if damaged:
                received.append(ReturnedLine(q.line_id, damaged, ReturnCondition.DAMAGED))
        location_id = self.rng.choices((BERLIN, LEIPZIG, MUNICH), (70, 20, 10))[0]
        self.on(story, self.oms.receive_return(
            story.order_id, return_id, location_id=location_id, lines=received,
            envelope=self.envelope("wms", "client", "wms", story),
        ))
        for got in received:
            story.tags.add(f"returned_{got.condition}")
        self.at(_hours(self.rng, 2, 24), partial(self.refund_return, story, return_id, lines),
                story)

    def refund_return(self, story: _Story, return_id: UUID, lines: list[LineQuantity]) -> None:
        order = self.order(story)
        amount = min(_gross(order, ((q.line_id, q.quantity) for q in lines)), order.refundable)
        if amount <= 0:
            return
        self.on(story, self.oms.refund_return(
            story.order_id, return_id, amount=amount, envelope=self.gateway(story),
        ))
        story.tags.add("return_refunded")

    # --- stock ------------------------------------------------------------------------------

    def restock(self) -> None:
        """Monday morning: supplier deliveries to the warehouses, a cycle count, then the new
        stock goes to backorders, oldest order first."""
        wms = partial(self.envelope, "wms", "client", "wms")
        arrived: dict[str, int] = {}
        for product in self.catalog:
            demand = self.expected_demand(product)
            if product.scarce:
                if self.rng.random() >= 0.7:
                    continue
                quantity = max(1, round(demand * self.rng.uniform(0.2, 0.45)))
            else:
                if self.rng.random() >= 0.8:
                    continue
                quantity = max(2, round(demand * self.rng.uniform(0.2, 0.35)))
            self.oms.receive_stock(
                sku=product.sku, location_id=LEIPZIG if product.home else BERLIN,
                quantity=quantity, envelope=wms(),
            )
            arrived[product.sku] = quantity
        self.count_cycle()
        waiting: list[_Story] = []
        for story in self.backlog:
            if any(arrived.get(sku, 0) > 0 for sku in story.backordered_skus):
                self.allocate(story, arrived)
            if story.backordered_skus:
                waiting.append(story)
        self.backlog = waiting

    def count_cycle(self) -> None:
        """A cycle count finds one unit missing or one too many somewhere."""
        product = self.rng.choice(self.catalog)
        items = self.oms.inventory_items(product.sku)
        if not items:
            return
        item = self.rng.choice(items)
        if item.on_hand - 1 >= item.reserved and self.rng.random() < 0.7:
            counted, reason = item.on_hand - 1, AdjustmentReason.CYCLE_COUNT
            self.oms.adjust_stock(sku=item.sku, location_id=item.location_id, reason=reason,
                                  counted=counted,
                                  envelope=self.envelope("ops", "admin", "console"))
        else:
            self.oms.adjust_stock(sku=item.sku, location_id=item.location_id,
                                  reason=AdjustmentReason.FOUND, quantity_delta=1,
                                  envelope=self.envelope("ops", "admin", "console"))

    def allocate(self, story: _Story, arrived: dict[str, int]) -> None:
        """Allocate what arrived to the order's backorders. ``arrived`` counts down what is
        left of each delivery, so orders behind an exhausted one are not asked in vain
        (allocating reads every location of every line: it is the dearest command here)."""
        before = self.order(story)
        if before.is_cancelled:
            self.forget_backorders(story)
            return
        order = self.on(story, self.oms.allocate_backorders(
            story.order_id, envelope=self.envelope("allocator", "system", "scheduler", story,
                                                   "stock arrived"),
        ))
        self.track_backorders(story, order)
        allocated = False
        for old, new in zip(before.lines.values(), order.lines.values(), strict=True):
            if not old.backordered:
                continue
            got = old.backordered - new.backordered
            allocated = allocated or got > 0
            # Short of what the line waited for: that delivery is used up.
            arrived[old.sku] = 0 if new.backordered else max(arrived.get(old.sku, 0) - got, 0)
        if allocated:
            story.tags.add("backorder_allocated")
            if story.scenario in _SHIPS and not order.is_on_hold and order.authorized > 0:
                self.at(_hours(self.rng, 3, 24), partial(self.ship, story), story)


def fill_demo(
    oms: OrderManagement,
    *,
    seed: int = 7,
    orders: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Fill an empty database with a reproducible shop: 4 locations, 50 SKUs, 30 customers and
    ``orders`` orders across every lifecycle path, spread over four weeks from 2026-01-05.

    The same ``seed`` records the same events (ids, times and payloads). ``on_progress(1)`` is
    called once per order when its story is complete. The application's clock and id generator
    are replaced for the run and restored afterwards. Raises ``AlreadyExistsError`` when the
    database already holds events.
    """
    if orders < 0:
        raise ValueError(f"orders must be 0 or more, got {orders}")
    saved = oms.clock, oms.new_id
    run = _DemoRun(oms, seed, orders, on_progress)
    oms.clock, oms.new_id = run.clock, run.new_id
    try:
        return run.run()
    finally:
        oms.clock, oms.new_id = saved
