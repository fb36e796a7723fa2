"""Changing a session's data set: read it in slices, check it fits, then swap it in whole.

Qt-free: the window's worker runs `swap_data` as a job (one slice of files per turn, so the
window stays live and can cancel); tests drive it directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator

from cnnviz.data import DataSet, load_bundled_mnist, read_data_folder
from cnnviz.training.app_state import SampleRef
from cnnviz.training.data_checks import check_data_fits
from cnnviz.training.session import TrainingSession


def swap_data(session: TrainingSession, folder: str | os.PathLike[str], *,
              size: int | None = None, cancel: Callable[[], bool] | None = None,
              ) -> Generator[tuple[int, int], None, DataSet]:
    """Read `folder`, yielding (done, total) files; then `use_data` it and return it.

    All or nothing: a folder that cannot be read, does not fit (DataMismatchError) or is
    cancelled (image_folders.Cancelled) leaves the session as it was."""
    data = yield from read_data_folder(folder, size=size, cancel=cancel)
    return use_data(session, data)


def use_data(session: TrainingSession, data: DataSet | None = None) -> DataSet:
    """Train on `data` (None: the bundled digits) from a fresh start, if it fits the session's
    network (else DataMismatchError, and nothing changes); returns it."""
    data = load_bundled_mnist() if data is None else data
    check_data_fits(data, session.trainer.model, session.preset)
    session.data = data
    session.sample = SampleRef("test", 0)
    session.reset(session.settings)
    return data
