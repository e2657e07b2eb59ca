"""The read models Evident knows, by name: what ``oms project`` runs by default."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from projections.care import CareProjection
from projections.engine import Projection
from projections.invoices import InvoicesProjection
from projections.order_status import OrderStatusProjection
from projections.order_timeline import OrderTimelineProjection
from projections.stock_visibility import StockVisibilityProjection

FACTORIES: dict[str, Callable[[], Projection]] = {
    OrderStatusProjection.name: OrderStatusProjection,
    OrderTimelineProjection.name: OrderTimelineProjection,
    StockVisibilityProjection.name: StockVisibilityProjection,
    InvoicesProjection.name: InvoicesProjection,
    CareProjection.name: CareProjection,
}


class UnknownProjectionError(LookupError):
    pass


def select(names: Sequence[str] = ()) -> list[Projection]:
    """Fresh projection objects for ``names`` (all when empty); unknown names are refused."""
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        known = ", ".join(sorted(FACTORIES))
        raise UnknownProjectionError(f"unknown projection {', '.join(unknown)} (known: {known})")
    return [FACTORIES[n]() for n in (names or list(FACTORIES))]
