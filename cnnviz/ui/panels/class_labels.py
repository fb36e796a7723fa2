"""Class names where room is short: axis ticks thinned to what can be read, names shortened
in captions, cell numbers only where they fit. For 2 to 100 classes (issue #18).

Qt-free helpers; the Evaluate panel (confusion matrix, per-class accuracy, galleries) and
any view labelling classes on an axis use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

NUMBERS_UP_TO = 20          # classes up to which every confusion-matrix cell shows its count
BAR_TEXTS_UP_TO = 20        # ... and every per-class accuracy bar its percentage
NAME_CHARS = 10             # a name in a caption or on an axis, at most (then "…")


def short_name(name: str, limit: int = NAME_CHARS) -> str:
    """`name` cut to `limit` characters with "…" ("golden_ret…"); short names unchanged."""
    return name if len(name) <= limit else name[:limit - 1] + "…"


def tick_step(count: int, most: int) -> int:
    """Label every n-th of `count` classes so that at most `most` labels show."""
    return max(1, math.ceil(count / max(most, 1)))


def class_ticks(names: Sequence[str], most: int, offset: float = 0.0
                ) -> list[tuple[float, str]]:
    """(position, label) ticks for classes 0..K−1 at `k + offset`: every class while K ≤
    `most`, else every n-th (always the first), names shortened."""
    step = tick_step(len(names), most)
    return [(k + offset, short_name(name)) for k, name in enumerate(names) if k % step == 0]


def most_ticks(axis_pixels: float, label_pixels: float, gap: float = 8.0) -> int:
    """How many labels `label_pixels` long (a name's width on a horizontal axis, a line's
    height on a vertical one) fit along an axis `axis_pixels` long, `gap` apart (at least 2)."""
    return max(2, int(axis_pixels / (label_pixels + gap)))


def cell_numbers_fit(classes: int) -> bool:
    """Whether a K×K confusion matrix writes its counts in the cells (else hover reads them)."""
    return classes <= NUMBERS_UP_TO


def cell_font_size(classes: int) -> int:
    """Point size of the cell counts: large for a few classes, small near the limit."""
    return 13 if classes <= 3 else 9 if classes <= 10 else 7
