"""Views know the run only from the snapshot: its facts, its history, its trace.

No view reaches back into the presets (which may not describe the run at all: a loaded file,
another batch size, a network of the user's own), and what they print comes from the facts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cnnviz
from cnnviz.data import load_bundled_mnist
from cnnviz.training import TrainSettings, stepper
from cnnviz.training.session import TrainingSession
from cnnviz.ui.panels import stepper_text

PACKAGE = Path(cnnviz.__file__).parent
PRESET_NAMES = {"PRESETS", "preset_for", "get_preset"}
# What draws or explains a snapshot: every panel, the export, and the stepper's explainers.
VIEW_MODULES = sorted([*PACKAGE.glob("ui/panels/*.py"), PACKAGE / "ui" / "render.py",
                       *PACKAGE.glob("training/stepper*.py")])


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.name for alias in node.names}
            if node.module and node.module.endswith("presets"):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: p.name)
def test_no_view_imports_the_presets(path):
    found = {n for n in imported_names(path) if n in PRESET_NAMES or n.endswith("presets")}
    assert not found, f"{path.name} imports {sorted(found)}: read snapshot.facts instead"


def test_the_stepper_explains_the_run_as_configured_not_the_preset():
    """A run with batch 16 and SGD: the explainers say 16 and SGD, though the preset says 32
    and Adam."""
    session = TrainingSession(load_bundled_mnist(), TrainSettings(batch_size=16,
                                                                  optimizer="sgd"),
                              processes=1)
    session.step()
    snapshot = session.snapshot()
    assert snapshot.facts.batch_size == 16 and snapshot.facts.optimizer == "SGD"
    assert snapshot.facts.input_shape == (1, 28, 28)
    assert stepper.optimizer_kind(snapshot) == "SGD"
    update = next(op for op in stepper.operations(snapshot) if op.direction == "update")
    arithmetic = stepper.update_arithmetic(snapshot, update.parameters[0], (0, 0, 0, 0))
    text = stepper_text.update_html(snapshot, arithmetic)
    assert "a batch of 16 samples" in text
    assert "momentum" in text.lower()
