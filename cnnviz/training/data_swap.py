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


def swap_data(session: TrainingSession, folder: str | os.PathLike[str] | None, *,
              size: int | None = None, cancel: Callable[[], bool] | None = None,
              ) -> Generator[tuple[int, int], None, DataSet]:
    """Read `folder` (None: the bundled digits), yielding (done, total) files; when it fits
    the session's network, train on it from a fresh start and return it.

    All or nothing: a folder that cannot be read, does not fit (DataMismatchError) or is
    cancelled (image_folders.Cancelled) leaves the session as it was."""
    if folder is None:
        data = load_bundled_mnist()
    else:
        data = yield from read_data_folder(folder, size=size, cancel=cancel)
    check_data_fits(data, session.trainer.model, session.preset)
    session.data = data
    session.sample = SampleRef("test", 0)
    session.reset(session.settings)
    return data
