"""Snapshots of seeded training runs, taken once per test session and shared by every module.

Many view and stepper tests need "the reference network after 20 steps, traced on test #3" or
"the tutorial network after 10 steps". Runs are seeded and repeatable, so one session per preset
steps forward once and every test module gets the same snapshots (in one process, so that no
helper process outlives a test).
"""

from __future__ import annotations

from cnnviz.data import MnistData
from cnnviz.training import TrainSettings
from cnnviz.training.app_state import SampleRef
from cnnviz.training.session import TrainingSession
from cnnviz.training.snapshot import Snapshot

FIRST_TEST_SAMPLE = SampleRef("test", 0)


class RecordedRuns:
    """`snapshot(preset, steps, sample)`: the seeded run of `preset` after `steps` steps."""

    def __init__(self, data: MnistData) -> None:
        self.data = data
        self._sessions: dict[str, TrainingSession] = {}
        self._taken: dict[tuple, Snapshot] = {}

    def snapshot(self, preset: str = "reference", steps: int = 20,
                 sample: SampleRef = FIRST_TEST_SAMPLE) -> Snapshot:
        key = (preset, steps, sample.split, sample.index, sample.target)
        if key not in self._taken:
            session = self._session_at(preset, steps)
            session.set_sample(sample)
            self._taken[key] = session.snapshot()
        return self._taken[key]

    def configs(self, preset: str = "reference") -> list[dict]:
        """The preset's layer configs, as `Sequential.config()["layers"]`."""
        return list(self.snapshot(preset, 0).architecture)

    def _session_at(self, preset: str, steps: int) -> TrainingSession:
        session = self._sessions.get(preset)
        if session is None or session.trainer.step_count > steps:     # start the run over
            session = TrainingSession(self.data, TrainSettings(preset=preset), processes=1)
            self._sessions[preset] = session
        while session.trainer.step_count < steps:
            session.step()
        return session
