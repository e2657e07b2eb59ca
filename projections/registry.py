"""The read models Evident knows, by name: what ``oms project`` runs by default."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from projections.engine import Projection
from projections.order_status import OrderStatusProjection

FACTORIES: dict[str, Callable[[], Projection]] = {
    OrderStatusProjection.name: OrderStatusProjection,
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
