"""The step-through panel: one sample walked through the network one operation at a time.

Forward through every layer, softmax and loss, backward through the same ops in reverse, then
the optimizer update (`cnnviz.training.stepper.operations`). For the current op the panel shows
where it sits in the network (a diagram, the op's box lit: forward blue, backward orange,
update green), its input and output, and the arithmetic behind one output element — the patch,
kernel and products of a conv unit, the largest terms of a dense unit, the exponentials of the
softmax, the chain-rule factors of a gradient, Adam's moments for one weight — all the engine's
numbers from the snapshot, taken apart by the stepper's explainers, never recomputed here.

The diagram is network_diagram.NetworkDiagram; the arrays and index pickers are in
stepper_arrays; the arithmetic's text in stepper_text.

Keys F / B / E (forward, back, to the end) are QShortcuts on this panel with window context:
Qt ignores a shortcut whose widget is hidden, so they act exactly while this tab is shown.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QKeySequence, QShortcut, QShowEvent
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cnnviz.training import stepper, stepper_backward, stepper_forward
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import stepper_text as text
from cnnviz.ui.panels.network_diagram import DIRECTION_COLOURS, NetworkDiagram
from cnnviz.ui.panels.stepper_arrays import ArrayView, IndexPicker, axes_for

WAITING = "Waiting for a snapshot of the network…"
TRAINING = ("Training is running — pause it (Space) to step through one sample, operation by "
            "operation, with the optimizer's state frozen.")


# --- the panel -------------------------------------------------------------------------------
class StepperPanel(QWidget):
    """Step through one sample's forward pass, backward pass and update, with the arithmetic."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._snapshot: Snapshot | None = None
        self._ops: list[stepper.Operation] = []
        self._index = 0
        self._key: tuple | None = None
        self._position: tuple[int, ...] | None = None
        self._parameter: tuple[str, tuple[int, ...]] | None = None
        self._values: tuple[float | None, float | None] = (None, None)
        self._dirty = False
        self._build()
        self._build_shortcuts()
        self._show_message(WAITING)

    # --- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_controls())
        self.diagram = NetworkDiagram()
        self.diagram.box_clicked.connect(self._on_box_clicked)
        layout.addWidget(self.diagram)
        self._pages = QStackedWidget()
        self._message = QLabel()
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._pages.addWidget(self._message)
        self._pages.addWidget(self._build_body())
        layout.addWidget(self._pages, stretch=1)

    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        icon = self.style().standardIcon
        specs = [("Restart", QStyle.StandardPixmap.SP_MediaSkipBackward,
                  "Back to the first operation (conv1 forward)", self.restart),
                 ("Back", QStyle.StandardPixmap.SP_MediaSeekBackward,
                  "Step back one operation (B)", self.backward_step),
                 ("Forward", QStyle.StandardPixmap.SP_MediaSeekForward,
                  "Step forward one operation (F)", self.forward_step),
                 ("Run to end", QStyle.StandardPixmap.SP_MediaSkipForward,
                  "Jump to the last operation, the optimizer update (E)", self.run_to_end)]
        self.buttons: dict[str, QPushButton] = {}
        for name, pixmap, tip, slot in specs:
            button = QPushButton(icon(pixmap), name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)    # keep F/B/E with the panel
            row.addWidget(button)
            self.buttons[name] = button
        self._status = QLabel()
        self._status.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self._status, stretch=1)
        return row

    def _build_body(self) -> QWidget:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        self._title = QLabel()
        self._title.setTextFormat(Qt.TextFormat.RichText)
        self._title.setWordWrap(True)
        self._title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self._title)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        views = QSplitter(Qt.Orientation.Vertical)
        self.input_view, self.output_view = ArrayView(), ArrayView()
        self.output_view.clicked.connect(self._on_output_clicked)
        views.addWidget(self.input_view)
        views.addWidget(self.output_view)
        splitter.addWidget(views)
        splitter.addWidget(self._build_arithmetic())
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([350, 650])      # the arithmetic's grids need the width
        column.addWidget(splitter, stretch=1)
        return body

    def _build_arithmetic(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.position_picker = IndexPicker("output position:")
        self.position_picker.setToolTip("Which output element to explain; or click the "
                                        "output map (bars) on the left")
        self.position_picker.changed.connect(
            lambda: self.select_position(*self.position_picker.index()))
        self.parameter_picker = IndexPicker("parameter:")
        self.parameter_picker.setToolTip("Which weight's gradient (backward) or update "
                                         "(optimizer step) to explain")
        self.parameter_picker.changed.connect(self._on_parameter_picked)
        column.addWidget(self.position_picker)
        column.addWidget(self.parameter_picker)
        self._text = QTextBrowser()
        self._text.setOpenLinks(False)
        column.addWidget(self._text, stretch=1)
        return box

    def _build_shortcuts(self) -> None:
        self.shortcuts: dict[str, QShortcut] = {}
        for key, slot in (("F", self.forward_step), ("B", self.backward_step),
                          ("E", self.run_to_end)):
            shortcut = QShortcut(QKeySequence(key), self)
            # Window context: active whenever this panel is visible (its tab shown), wherever
            # the focus is; Qt skips shortcuts of hidden widgets.
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
            self.shortcuts[key] = shortcut

    # --- public -----------------------------------------------------------------------------
    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Step through `snapshot`; the op index is kept while the sample and model stay."""
        if snapshot.optimizer_state is None:
            self._show_message(TRAINING)
            return
        key = (snapshot.model_label, snapshot.preset, snapshot.sample.split,
               snapshot.sample.index, snapshot.sample.target,
               None if snapshot.sample.image is None else snapshot.sample.image.tobytes(),
               tuple(layer.name for layer in snapshot.trace.layers))
        ops = stepper.operations(snapshot)
        if key != self._key or len(ops) != len(self._ops):
            self._index, self._position, self._parameter = 0, None, None
        self._key, self._snapshot, self._ops = key, snapshot, ops
        self._pages.setCurrentIndex(1)
        self._set_buttons_enabled(True)
        self._refresh()

    def operations(self) -> list[stepper.Operation]:
        return list(self._ops)

    def current_operation(self) -> stepper.Operation | None:
        return self._ops[self._index] if self._ops else None

    def forward_step(self) -> None:
        """The next operation (stays on the last one)."""
        self.go_to(self._index + 1)

    def backward_step(self) -> None:
        """Step back one operation (stays on the first one)."""
        self.go_to(self._index - 1)

    def run_to_end(self) -> None:
        """Jump to the last operation: the optimizer update."""
        self.go_to(len(self._ops) - 1)

    def restart(self) -> None:
        self.go_to(0)

    def go_to(self, index: int) -> None:
        """Show operation `index` (clamped), explaining its default position."""
        if not self._ops or not self.isEnabled() or self._pages.currentIndex() != 1:
            return
        index = max(0, min(index, len(self._ops) - 1))
        if index != self._index:
            self._index, self._position, self._parameter = index, None, None
        self._refresh()

    def select_position(self, *index: int) -> None:
        """Explain the output element at `index` (for the update: the parameter element)."""
        op = self.current_operation()
        if op is None:
            return
        index = tuple(int(i) for i in index)
        if op.direction == "update":
            name = (self._parameter or stepper.default_parameter(self._snapshot, op))[0]
            self._parameter = name, index
        else:
            self._position = index
        self._refresh()

    def select_parameter(self, name: str, *index: int) -> None:
        """Choose the weight a backward op or the update explains (name as "conv1.W")."""
        self._parameter = name, tuple(int(i) for i in index)
        self._refresh()

    def selected_position(self) -> tuple[int, ...] | None:
        return self._position

    def selected_parameter(self) -> tuple[str, tuple[int, ...]] | None:
        return self._parameter

    def arithmetic_text(self) -> str:
        """The arithmetic panel's text, as plain text."""
        return self._text.toPlainText()

    def shown_value(self) -> float | None:
        """The value shown for the selected element: the engine's output there (Δw for updates)."""
        return self._values[0]

    def shown_sum(self) -> float | None:
        """The total the arithmetic arrives at (sum + bias, chain-rule total, w′ − w)."""
        return self._values[1]

    def highlighted_box(self) -> str | None:
        return self.diagram.highlighted()

    def message(self) -> str | None:
        """The message shown instead of the stepper (training running, no snapshot), or None."""
        return self._message.text() if self._pages.currentIndex() == 0 else None

    # --- drawing ----------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self._refresh()

    def _show_message(self, message: str) -> None:
        self._message.setText(message)
        self.diagram.highlight(None, "forward")        # no op is current until paused
        self._pages.setCurrentIndex(0)
        self._set_buttons_enabled(False)
        self._status.setText("")

    def _set_buttons_enabled(self, enabled: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(enabled)

    def _refresh(self) -> None:
        """Settle the selection; explain and draw it only while visible."""
        op = self.current_operation()
        if op is None:
            return
        self._settle_selection(op)
        if not self.isVisible():            # a hidden tab: explain and draw when shown
            self._dirty = True
            return
        self._dirty = False
        self._explain(op)
        self._draw(op)

    def _settle_selection(self, op: stepper.Operation) -> None:
        """Default or clamp the position and parameter so that they fit the op's arrays."""
        if op.direction != "update":
            if self._position is None or not _fits(self._position, op.output.shape):
                self._position = stepper.default_position(op)
        if op.parameters:
            name = None if self._parameter is None else self._parameter[0]
            if name not in op.parameters:
                self._parameter = stepper.default_parameter(self._snapshot, op)
            elif not _fits(self._parameter[1], self._snapshot.params[name].shape):
                self._parameter = name, tuple(0 for _ in self._snapshot.params[name].shape)

    def _explain(self, op: stepper.Operation) -> None:
        """The arithmetic for the selection, as HTML, and the values the tests read."""
        snapshot = self._snapshot
        if op.direction == "forward":
            arithmetic = stepper_forward.forward_arithmetic(snapshot, op, self._position)
            shown = float(op.output[self._position])
            self._html = text.forward_html(snapshot, op, self._position, arithmetic)
            total = text.forward_total(arithmetic, self._position)
        elif op.direction == "backward":
            arithmetic = stepper_backward.backward_chain(snapshot, op, self._position,
                                                         self._parameter)
            shown, total = float(op.output[self._position]), arithmetic.result.total
            self._html = text.backward_html(snapshot, op, arithmetic)
        else:
            name, index = self._parameter
            arithmetic = stepper.update_arithmetic(snapshot, name, index)
            self._update_arrays = stepper.optimizer_step(snapshot, name)
            shown = float(self._update_arrays["delta"][index])
            total = arithmetic.w_new - arithmetic.w
            self._html = text.update_html(snapshot, arithmetic)
        self._arithmetic = arithmetic
        self._values = (shown, total)
        self._text.setHtml(self._html)

    def _draw(self, op: stepper.Operation) -> None:
        snapshot = self._snapshot
        self.diagram.set_boxes(_diagram_boxes(snapshot))
        self.diagram.highlight(op.layer, op.direction)
        colour = DIRECTION_COLOURS[op.direction]
        self._status.setText(f"operation <b>{op.index + 1}</b> of {len(self._ops)} · "
                             f"<span style='color:{colour}'><b>{op.direction}</b></span> · "
                             f"{snapshot.sample.describe()} · {snapshot.model_label} · "
                             f"after {snapshot.network_step} training steps")
        self._title.setText(f"<b style='color:{colour}'>{op.title}</b><br>"
                            f"<span style='font-family:monospace'>{op.equation}</span>")
        self._title.setToolTip(f"The equation this operation applies: {op.equation}")
        self._text.setToolTip(f"The engine's numbers for the selected element, taken apart: "
                              f"{op.equation}.\n✓ means the arithmetic shown adds up to the "
                              f"value the engine computed (to float32 rounding).")
        if op.direction == "update":
            self._draw_update(op)
        else:
            self._draw_arrays(op)
        self._configure_pickers(op)

    def _draw_arrays(self, op: stepper.Operation) -> None:
        self.input_view.show_array(op.input, f"{op.input_label} · {_shape(op.input)}",
                                   f"What {op.layer} {op.direction} receives: {op.input_label}, "
                                   f"the engine's numbers")
        # Short titles: a plot is never narrower than its title, which would push the
        # colour bar out of a narrow view.
        self.output_view.show_array(op.output, f"{op.output_label} · {_shape(op.output)}",
                                    f"What {op.layer} {op.direction} produces: "
                                    f"{op.output_label}. Click an element to see its arithmetic")
        self.output_view.mark([(self._position, 1, 1)])
        self.input_view.mark(text.input_marks(self._snapshot, op, self._position,
                                              self._arithmetic))

    def _draw_update(self, op: stepper.Operation) -> None:
        name, index = self._parameter
        arrays = self._update_arrays
        self.input_view.show_array(arrays["g"], f"g = ∂ℓ/∂{name} · {_shape(arrays['g'])}",
                                   f"The gradient of {name} for this sample (from the trace)")
        self.output_view.show_array(arrays["delta"], f"w′ − w · {name}",
                                    f"How one {op.kind} step on this sample alone would change "
                                    f"{name}. Click a weight to see its update")
        self.output_view.mark([(index, 1, 1)])
        self.input_view.mark([(index, 1, 1)])

    def _configure_pickers(self, op: stepper.Operation) -> None:
        if op.direction == "update" or op.output.size == 1:
            self.position_picker.hide()
        else:
            kind = "class" if op.layer in ("softmax", "loss") else "map"
            self.position_picker.configure(op.output.shape, axes_for(op.output.shape, kind),
                                           self._position)
            self.position_picker.show()
        if self._parameter is None:
            self.parameter_picker.hide()
            return
        name, index = self._parameter
        shape = self._snapshot.params[name].shape
        self.parameter_picker.configure(shape, axes_for(shape, "parameter"), index,
                                        op.parameters, name)
        self.parameter_picker.show()

    # --- events -----------------------------------------------------------------------------
    def _on_output_clicked(self, index: tuple[int, ...]) -> None:
        self.select_position(*index)

    def _on_parameter_picked(self) -> None:
        name = self.parameter_picker.name()
        if not name or self._snapshot is None:
            return
        index = self.parameter_picker.index()
        if self._parameter is not None and name != self._parameter[0]:
            shape = self._snapshot.params[name].shape
            index = tuple(0 for _ in shape)
            if self.current_operation().direction == "update":
                grad = np.abs(stepper.optimizer_step(self._snapshot, name)["g"])
                index = tuple(int(i) for i in np.unravel_index(int(grad.argmax()), grad.shape))
        self.select_parameter(name, *index)

    def _on_box_clicked(self, name: str) -> None:
        """Go to the clicked layer's op in the current direction (backward from the update)."""
        op = self.current_operation()
        if op is None:
            return
        direction = "update" if name == "update" else (
            "forward" if op.direction == "forward" else "backward")
        for candidate in self._ops:
            if candidate.layer == name and candidate.direction == direction:
                self.go_to(candidate.index)
                return

def _fits(index: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return len(index) == len(shape) and all(0 <= i < n for i, n in zip(index, shape))


def _shape(array: np.ndarray) -> str:
    return "×".join(str(n) for n in np.shape(array)) or "1"


def _diagram_boxes(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(name, kind, shape) for the input, each layer, softmax, loss and the update."""
    trace = snapshot.trace
    boxes = [("input", "image", _shape(trace.input[0]))]
    boxes += [(layer.name, layer.kind, _shape(layer.output[0])) for layer in trace.layers]
    if stepper.loss_kind(snapshot) == "SoftmaxCrossEntropy":
        boxes += [("softmax", "Softmax", _shape(trace.probabilities[0])),
                  ("loss", "cross-entropy", "ℓ")]
    else:
        boxes.append(("loss", "squared error", "E"))
    boxes.append(("update", stepper.optimizer_kind(snapshot), "all weights"))
    return boxes
