"""A bounded, append-only table of numbers whose snapshots cost almost nothing to take.

The run's curves (cost per batch, gradient norms per step) grow at every training step in the
worker thread and are drawn in the GUI thread. Rows are written into blocks; a full block is
made read-only and never touched again, so a `ColumnsView` can share it with the writer safely,
and publishing a view copies only the unfinished last block. Past `max_points` rows,
neighbouring pairs are averaged and later rows are stored as averages of groups twice as large,
so a long run keeps an even resolution in fixed memory.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 1024


class ColumnsView:
    """A frozen view of a `ColumnLog`: its rows at one moment, read-only."""

    def __init__(self, blocks: tuple[np.ndarray, ...], count: int, stride: int) -> None:
        self._blocks, self.count, self.stride = blocks, count, stride
        self._columns: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.count

    def column(self, index: int) -> np.ndarray:
        """One column's values, shape (count,), read-only (joined once, then cached)."""
        if index not in self._columns:
            joined = np.concatenate([b[index] for b in self._blocks]) if self._blocks \
                else np.zeros(0)
            joined.flags.writeable = False
            self._columns[index] = joined
        return self._columns[index]


class ColumnLog:
    """Rows of `width` numbers, at most `max_points` of them (decimated beyond)."""

    def __init__(self, width: int, max_points: int, block_rows: int = BLOCK_ROWS) -> None:
        if max_points < 2 or max_points % 2:
            raise ValueError(f"max_points must be an even number ≥ 2, got {max_points}")
        self.width, self.max_points = width, max_points
        self._block_rows = max(1, min(block_rows, max_points))
        self.clear()

    def clear(self) -> None:
        self._full: list[np.ndarray] = []         # read-only (width, block_rows) blocks
        self._tail = np.empty((self.width, self._block_rows))
        self._tail_count = 0
        self._stride = 1
        self._bucket: list[np.ndarray] = []       # rows waiting to fill one averaged row

    def __len__(self) -> int:
        return len(self._full) * self._block_rows + self._tail_count

    @property
    def stride(self) -> int:
        """How many appended rows each stored row averages (1 until the first decimation)."""
        return self._stride

    def append(self, row: np.ndarray) -> None:
        self._bucket.append(np.asarray(row, dtype=float))
        if len(self._bucket) == self._stride:
            self._store(np.mean(self._bucket, axis=0))
            self._bucket = []

    def view(self) -> ColumnsView:
        """The rows stored so far; only the unfinished block is copied."""
        tail = self._tail[:, :self._tail_count].copy()
        tail.flags.writeable = False
        return ColumnsView(tuple(self._full) + (tail,), len(self), self._stride)

    def _store(self, row: np.ndarray) -> None:
        self._tail[:, self._tail_count] = row
        self._tail_count += 1
        if self._tail_count == self._block_rows:
            self._tail.flags.writeable = False      # views may hold it from now on
            self._full.append(self._tail)
            self._tail, self._tail_count = np.empty((self.width, self._block_rows)), 0
        if len(self) == self.max_points:
            self._decimate()

    def _decimate(self) -> None:
        """Average neighbouring pairs: half the rows, each standing for twice as many."""
        rows = np.concatenate(self._full + [self._tail[:, :self._tail_count]], axis=1)
        halved = rows.reshape(self.width, -1, 2).mean(axis=2)
        stride = self._stride * 2
        self.clear()
        self._stride = stride
        for column in halved.T:
            self._store(column)
