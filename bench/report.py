"""One row per figure, and the table ``python -m bench`` prints.

A row holds the figure, the baseline measured in the same run, and the target; the ratio and
whether the target is met are derived, never typed in, so the table cannot flatter itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """A measured figure beside its same-run baseline and its target."""

    figure: str
    value: float
    unit: str
    baseline: float | None = None
    target_ratio: float | None = None  # at least this many times the baseline
    target_value: float | None = None  # and at least this much, in ``unit``
    # For figures where less is better (latencies): at most this ratio / this much.
    max_ratio: float | None = None
    max_value: float | None = None
    row: int | None = None  # the row number, for ordering the table

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline <= 0:
            return None
        return self.value / self.baseline

    @property
    def target(self) -> str:
        parts = []
        if self.target_ratio is not None:
            parts.append(f"≥ {self.target_ratio:g}×")
        if self.target_value is not None:
            parts.append(f"≥ {_number(self.target_value)} {self.unit}")
        if self.max_ratio is not None:
            parts.append(f"≤ {self.max_ratio:g}×")
        if self.max_value is not None:
            parts.append(f"≤ {_number(self.max_value)} {self.unit}")
        return " and ".join(parts) or "—"

    @property
    def met(self) -> bool | None:
        """None when there is no target to meet."""
        targets = (self.target_ratio, self.target_value, self.max_ratio, self.max_value)
        if all(t is None for t in targets):
            return None
        ratio = self.ratio
        ratio_ok = self.target_ratio is None or (ratio is not None and ratio >= self.target_ratio)
        value_ok = self.target_value is None or self.value >= self.target_value
        max_ratio_ok = self.max_ratio is None or (ratio is not None and ratio <= self.max_ratio)
        max_value_ok = self.max_value is None or self.value <= self.max_value
        return ratio_ok and value_ok and max_ratio_ok and max_value_ok


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def format_table(results: Sequence[Result]) -> str:
    """A plain-text table, one result per row, aligned for a terminal or a log file."""
    header = ("#", "figure", "value", "baseline", "ratio", "target", "met")
    rows = [
        (
            "" if r.row is None else str(r.row),
            r.figure,
            f"{_number(r.value)} {r.unit}",
            "—" if r.baseline is None else f"{_number(r.baseline)} {r.unit}",
            "—" if r.ratio is None else f"{r.ratio:.2f}×",
            r.target,
            {True: "yes", False: "NO", None: "—"}[r.met],
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {0, 2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
