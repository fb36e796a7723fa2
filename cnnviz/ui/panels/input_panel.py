"""The input column: the chosen sample large, and the controls that choose it."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPen
from PyQt6.QtWidgets import (
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training.snapshot import SampleRef, Snapshot
from cnnviz.ui.panels.sample_images import grey_lut, show_sample

ANY_LABEL = "any class"


class InputPanel(QWidget):
    """Shows the input of the current snapshot (grey or colour); lets the user pick split,
    index, label."""

    sample_requested = pyqtSignal(object)          # SampleRef
    next_mistake_requested = pyqtSignal(str, int, object)   # split, after index, label or None
    pin_requested = pyqtSignal()                   # pin the sample every view shows

    def __init__(self, labels_by_split: dict[str, np.ndarray], parent: QWidget | None = None,
                 class_names: tuple[str, ...] = tuple(str(d) for d in range(10))):
        super().__init__(parent)
        self._labels = labels_by_split
        self._build()
        self._set_class_names(class_names)
        self._update_range()

    # --- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        title = QLabel("<b>Input</b>")
        layout.addWidget(title)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumSize(180, 180)
        self.view.setToolTip("The input sample as stored: grey levels (or red, green, blue "
                             "values) 0–255. The network sees it scaled as the model says, "
                             "e.g. (x/255 − 0.1307)/0.3081.")
        plot = self.view.addPlot()
        plot.setAspectLocked(True)
        plot.invertY(True)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setLevels((0, 255))
        self.image_item.setLookupTable(grey_lut())
        plot.addItem(self.image_item)
        self.field_item = QGraphicsRectItem(QRectF(0, 0, 0, 0))
        self.field_item.setPen(QPen(QColor(255, 80, 40), 0.25))
        self.field_item.setVisible(False)
        plot.addItem(self.field_item)
        layout.addWidget(self.view, stretch=1)

        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)           # a narrow input column wraps, not widens
        self.caption.setToolTip("The sample's true class and what the network predicts for it "
                                "(argmax of the softmax, paper eq. 33)")
        layout.addWidget(self.caption)

        self.split_box = QComboBox()
        self.split_box.addItems(["test", "train"])
        self.split_box.setToolTip("Which data split to take the sample from")
        self.index_box = QSpinBox()
        self.index_box.setToolTip("Sample index in the split (←/→ to browse)")
        self.index_box.setKeyboardTracking(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("split"))
        row.addWidget(self.split_box)
        row.addWidget(QLabel("index"))
        row.addWidget(self.index_box, stretch=1)
        layout.addLayout(row)

        self.previous_button = QPushButton("◀")
        self.previous_button.setToolTip("Previous sample with the chosen label (←)")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next sample with the chosen label (→)")
        self.label_box = QComboBox()
        self.label_box.setToolTip("Browse only samples whose true class is this one")
        row = QHBoxLayout()
        row.addWidget(self.previous_button)
        row.addWidget(self.label_box, stretch=1)
        row.addWidget(self.next_button)
        layout.addLayout(row)

        self.mistake_button = QPushButton("Next mistake")
        self.mistake_button.setToolTip("Jump to the next sample the network gets wrong (M)")
        self.pin_button = QPushButton("Pin")
        self.pin_button.setToolTip("Pin the sample shown: follow its true-class probability and "
                                   "loss over the whole run on the Pins tab (Shift+P)")
        row = QHBoxLayout()
        row.addWidget(self.mistake_button, stretch=1)
        row.addWidget(self.pin_button)
        layout.addLayout(row)
        self.value_label = QLabel("")
        self.value_label.setWordWrap(True)
        layout.addWidget(self.value_label)

        self.split_box.currentTextChanged.connect(self._on_split_changed)
        self.index_box.valueChanged.connect(self._request_current)
        self.previous_button.clicked.connect(lambda: self.browse(-1))
        self.next_button.clicked.connect(lambda: self.browse(+1))
        self.mistake_button.clicked.connect(self.request_mistake)
        self.pin_button.clicked.connect(self.pin_requested)

    # --- user intents -----------------------------------------------------------------------
    @property
    def split(self) -> str:
        return self.split_box.currentText()

    @property
    def label_filter(self) -> int | None:
        """The class index browsed, None for any."""
        row = self.label_box.currentIndex()
        return None if row <= 0 else row - 1

    def set_labels(self, labels_by_split: dict[str, np.ndarray],
                   class_names: tuple[str, ...] | None = None) -> None:
        """A new data set: new ranges and label lists (and class names, when given)."""
        self._labels = labels_by_split
        if class_names is not None:
            self._set_class_names(class_names)
        self._update_range()

    def _set_class_names(self, names: tuple[str, ...]) -> None:
        """The label filter lists the data's classes by name (kept when they are the same)."""
        if tuple(self.label_box.itemText(row) for row in range(1, self.label_box.count())) \
                == tuple(names):
            return
        self.label_box.clear()
        self.label_box.addItems([ANY_LABEL, *names])

    def _update_range(self) -> None:
        self.index_box.setRange(0, max(0, len(self._labels[self.split]) - 1))
        self.index_box.setSuffix(f" / {len(self._labels[self.split]) - 1}")

    def _on_split_changed(self) -> None:
        self._update_range()
        self._request_current()

    def _request_current(self) -> None:
        self.sample_requested.emit(SampleRef(self.split, self.index_box.value()))

    def browse(self, direction: int) -> None:
        """Step to the previous/next sample, honouring the label filter (wrapping around)."""
        labels, current = self._labels[self.split], self.index_box.value()
        candidates = np.arange(len(labels))
        if self.label_filter is not None:
            candidates = np.flatnonzero(labels == self.label_filter)
        if len(candidates) == 0:
            return
        if direction > 0:
            later = candidates[candidates > current]
            target = later[0] if len(later) else candidates[0]
        else:
            earlier = candidates[candidates < current]
            target = earlier[-1] if len(earlier) else candidates[-1]
        self.index_box.setValue(int(target))

    def request_mistake(self) -> None:
        """Ask for the next sample (after the current one) that the network gets wrong."""
        self.next_mistake_requested.emit(self.split, self.index_box.value(), self.label_filter)

    def select(self, split: str, index: int) -> None:
        """Select a sample from outside (e.g. a mistake found by the worker)."""
        self.split_box.setCurrentText(split)
        self.index_box.setValue(index)

    # --- drawing ----------------------------------------------------------------------------
    def show_snapshot(self, snapshot: Snapshot) -> None:
        # While training the sample stays and only p moves: repaint only what changed.
        shown = self.image_item.image
        if shown is None or not np.array_equal(shown, snapshot.sample_image):
            show_sample(self.image_item, snapshot.sample_image)
        names = snapshot.class_names
        predicted = snapshot.prediction
        p = snapshot.trace.probabilities[0, predicted]
        parts = [snapshot.sample.describe()]
        if snapshot.label is not None:
            parts.append(f"true {names[snapshot.label]}")
        ok = snapshot.label is None or snapshot.label == predicted
        colour = "#2a7" if ok else "#d33"
        parts.append(f"<b style='color:{colour}'>predicted {names[predicted]}</b> (p={p:.2f})")
        caption = f"<span style='font-size:14pt'>{' · '.join(parts)}</span>"
        if caption != self.caption.text():
            self.caption.setText(caption)

    def show_receptive_field(self, box: tuple[int, int, int, int] | None, text: str = "") -> None:
        """Outline the input pixels (row0, col0, row1, col1), end-exclusive, that a unit sees."""
        self.value_label.setText(text)
        if box is None:
            self.field_item.setVisible(False)
            return
        row0, col0, row1, col1 = box
        self.field_item.setRect(QRectF(col0, row0, col1 - col0, row1 - row0))
        self.field_item.setVisible(True)
