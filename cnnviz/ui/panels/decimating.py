"""A history that never outgrows its memory, for curves drawn over a whole training run."""

from __future__ import annotations

import numpy as np


class DecimatingColumns:
    """Rows of `width` numbers in a fixed (width, max_points) array.

    Past `max_points` rows, neighbouring pairs are averaged and later rows are stored as
    averages of groups twice as large, so a long run keeps an even resolution and a bounded
    footprint (the last rows of an unfinished group wait in a small bucket).
    """

    def __init__(self, width: int, max_points: int) -> None:
        if max_points < 2 or max_points % 2:
            raise ValueError(f"max_points must be an even number ≥ 2, got {max_points}")
        self.max_points = max_points
        self._data = np.zeros((width, max_points))
        self.clear()

    def clear(self) -> None:
        self._count, self._stride = 0, 1
        self._bucket: list[np.ndarray] = []

    def __len__(self) -> int:
        return self._count

    @property
    def stride(self) -> int:
        """How many appended rows each stored row averages (1 until the first decimation)."""
        return self._stride

    def append(self, row: np.ndarray) -> None:
        self._bucket.append(np.asarray(row, dtype=float))
        if len(self._bucket) == self._stride:
            self._store(np.mean(self._bucket, axis=0))
            self._bucket = []

    def column(self, index: int) -> np.ndarray:
        """A read-only view of one column's stored values."""
        view = self._data[index, :self._count]
        view.flags.writeable = False
        return view

    def _store(self, row: np.ndarray) -> None:
        self._data[:, self._count] = row
        self._count += 1
        if self._count == self.max_points:
            half = self.max_points // 2
            self._data[:, :half] = self._data.reshape(len(self._data), half, 2).mean(axis=2)
            self._count, self._stride = half, self._stride * 2
