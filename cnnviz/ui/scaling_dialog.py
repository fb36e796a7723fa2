"""The question asked when an ONNX network does not say how it wants its inputs scaled."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.nn.scaling import (
    MAX_ABS_MEAN,
    MAX_STD,
    MIN_STD,
    MNIST_SCALING,
    UNIT_SCALING,
    InputScaling,
)


class InputScalingDialog(QDialog):
    """Three choices — cnnviz's MNIST scaling, plain [0, 1], or a mean and std — for `path`."""

    def __init__(self, path: Path, parent: QWidget | None = None,
                 chosen: InputScaling | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("How does this network expect its inputs?")
        layout = QVBoxLayout(self)
        text = QLabel(f"{path.name} does not say how its input pixels were scaled in training. "
                      f"Pick what its author used; a wrong choice lowers its accuracy.")
        text.setWordWrap(True)
        layout.addWidget(text)
        self.mnist = QRadioButton(f"MNIST convention (torchvision): {MNIST_SCALING.describe()}")
        self.unit = QRadioButton("plain [0, 1]: x/255")
        self.custom = QRadioButton("another mean and std: (x/255 − mean)/std")
        self.group = QButtonGroup(self)
        for button in (self.mnist, self.unit, self.custom):
            self.group.addButton(button)
            layout.addWidget(button)
        custom = chosen is not None and chosen not in (MNIST_SCALING, UNIT_SCALING)
        form = QFormLayout()
        self.mean = _spin_box(-MAX_ABS_MEAN, MAX_ABS_MEAN, chosen.mean if custom else 0.5)
        self.std = _spin_box(MIN_STD, MAX_STD, chosen.std if custom else 0.5)
        # The choice made last time for this file (else the MNIST convention) is preselected.
        (self.custom if custom else self.unit if chosen == UNIT_SCALING else
         self.mnist).setChecked(True)
        form.addRow("mean", self.mean)
        form.addRow("std", self.std)
        layout.addLayout(form)
        for box in (self.mean, self.std):
            box.valueChanged.connect(lambda _: self.custom.setChecked(True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def scaling(self) -> InputScaling:
        """The scaling the choice stands for."""
        if self.mnist.isChecked():
            return MNIST_SCALING
        if self.unit.isChecked():
            return UNIT_SCALING
        return InputScaling(self.mean.value(), self.std.value())


def _spin_box(low: float, high: float, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(6)
    box.setRange(low, high)
    box.setSingleStep(0.01)
    box.setValue(value)
    return box


def ask_input_scaling(parent: QWidget | None, path: Path,
                      chosen: InputScaling | None = None) -> InputScaling | None:
    """Ask (modal) how `path`'s network scales its inputs, `chosen` preselected; None when the
    user cancels."""
    dialog = InputScalingDialog(path, parent, chosen)
    return dialog.scaling() if dialog.exec() == QDialog.DialogCode.Accepted else None
