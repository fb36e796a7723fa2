"""What the toolbar's data dropdown offers: the known data sets and the folders opened.

Plain Python (no widget): the window asks it for the entries to show and which one is in use,
so the dropdown always names the data the network trains on — "shapes" after File → Open
data folder…, not "bundled MNIST".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnnviz.data import BUNDLED_MNIST_NAME, available_datasets

OPENED_KEPT = 6            # folders opened in this window offered again, newest first


@dataclass(frozen=True)
class DataEntry:
    """One dropdown entry: its text, its tooltip, and the folder read for it (None: the
    bundled digits, read from the package)."""

    name: str
    tip: str
    folder: str | None


@dataclass
class DataChoices:
    """The known data sets (bundled MNIST, full MNIST once downloaded) then the folders
    opened in this window; `in_use` is the data set's `source` (a folder path, or the bundled
    set's name)."""

    in_use: str = BUNDLED_MNIST_NAME
    opened: list[str] = field(default_factory=list)

    def entries(self) -> list[DataEntry]:
        known = [DataEntry(name, f"{name}: {folder}", None if name == BUNDLED_MNIST_NAME
                           else str(folder)) for name, folder in available_datasets()]
        seen = {_key(e.folder) for e in known if e.folder is not None}
        for folder in self.opened:
            if _key(folder) not in seen:
                seen.add(_key(folder))
                known.append(DataEntry(Path(folder).name or folder, folder, folder))
        return known

    def current(self) -> int:
        """Index of the entry in use (its folder opened if it is not one yet)."""
        self.use(self.in_use)
        return self.index_of(self.in_use)

    def index_of(self, source: str) -> int:
        """The entry reading `source`, -1 when none does."""
        for index, entry in enumerate(self.entries()):
            if (entry.folder is None and source == BUNDLED_MNIST_NAME) or (
                    entry.folder is not None and _key(entry.folder) == _key(source)):
                return index
        return -1

    def use(self, source: str) -> None:
        """`source` is now the data in use: a folder is offered first among those opened."""
        self.in_use = source
        if source == BUNDLED_MNIST_NAME:
            return
        self.opened = [source] + [f for f in self.opened if _key(f) != _key(source)]
        del self.opened[OPENED_KEPT:]


def _key(folder: str) -> str:
    """A folder's identity, however it was typed."""
    try:
        return str(Path(folder).expanduser().resolve())
    except (OSError, RuntimeError):        # an unreadable path is compared as typed
        return folder
