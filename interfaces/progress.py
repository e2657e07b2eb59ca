"""Progress for long commands: done/total, rate and ETA on a terminal, silent when piped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress(
    total: int, description: str, unit: str = "ev"
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; the bar draws on stderr only when it is a terminal."""
    with tqdm(total=total, desc=description, unit=unit, unit_scale=True,
              disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        def advance(done: int) -> None:
            bar.update(done)

        yield advance
