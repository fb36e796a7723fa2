"""A unit's identity card (issue #16): its weights, its top-9 test-set patches, its
synthesized preferred input, its map for the current sample and its activity on the probe.

The card draws what the worker computed (`cnnviz.training.units`, `preferred_input`): it never
runs the network. Clicking a patch asks for that digit as the input, with the patch outlined.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.training import units
from cnnviz.training.preferred_input import PreferredInput
from cnnviz.training.snapshot import Snapshot
from cnnviz.ui.panels import colors

PATCH_COLUMNS = 3
MIN_TILE = 14              # pixels a top-9 crop shows at least (conv1 sees only 5×5)


def unit_weights(snapshot: Snapshot, layer: str, unit: int) -> np.ndarray:
    """The unit's incoming weights as (tiles, h, w) maps: a conv filter's kernel per input
    channel; a dense unit's weights folded back into the maps its input was flattened from."""
    w = snapshot.params[f"{layer}.W"][unit]
    if w.ndim == 3:
        return w
    names = [spec["name"] for spec in snapshot.architecture]
    before = names[names.index(layer) - 1] if names.index(layer) else None
    if before is not None and snapshot.architecture[names.index(before)]["type"] == "Flatten":
        source = names[names.index(before) - 1] if names.index(before) else None
        shape = snapshot.layer_shapes.get(source, ())
        if len(shape) == 3 and math.prod(shape) == w.size:
            return w.reshape(shape)
    columns = 16 if w.size % 16 == 0 else w.size
    return w.reshape(1, -1, columns)


class UnitCard(QWidget):
    """Everything about one unit, in one picture."""

    patch_chosen = pyqtSignal(int, object)        # test index, receptive-field box

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        root = self.graphics.ci
        self.weights = colors.MosaicView(
            root.addPlot(row=0, col=0), "weights", "", "",
            "The unit's incoming weights: a conv filter's kernel for each input channel, or "
            "a dense unit's weights laid out as the maps they read. Red adds, blue subtracts.\n"
            "Colour: weight.", colors.LevelTracker(signed=True), None)
        self.preferred_plot = root.addPlot(row=0, col=1)
        self.preferred = self._picture(self.preferred_plot, "preferred input",
                                       "The input this unit responds to most, found by gradient "
                                       "ascent on the image from a neutral grey start (with "
                                       "jitter, L2 decay and blur), seeded: the same seed gives "
                                       "the same image.")
        self.map = colors.MosaicView(
            root.addPlot(row=0, col=2), "on the current sample", "", "",
            "The unit's activation map for the current sample (the input column).\n"
            "Colour: activation.", colors.LevelTracker(signed=False), None)
        self.patches_plot = root.addPlot(row=1, col=0, colspan=3)
        colors.style_plot(self.patches_plot, "top-9 test patches", "", "",
                          "The nine test samples on which the unit peaks highest, each cropped "
                          "to the input pixels the unit sees there (its receptive field), with "
                          "its peak z. Click one to make that sample the input, patch outlined.")
        self.patches_plot.getViewBox().setAspectLocked(True)
        self.patches_plot.getViewBox().invertY(True)
        self.patches_plot.hideAxis("left")
        self.patches_plot.hideAxis("bottom")
        self.patches_image = pg.ImageItem(axisOrder="row-major")
        self.patches_image.mouseClickEvent = self._on_patch_click
        self.patches_plot.addItem(self.patches_image)
        self._patch_labels: list[pg.TextItem] = []
        # The card shares 1366 px with the unit list: pictures, no axes (the tooltips say what
        # the rows and columns are).
        for plot in (self.weights.plot, self.preferred_plot, self.map.plot):
            plot.hideAxis("left")
            plot.hideAxis("bottom")
        root.layout.setRowStretchFactor(0, 2)
        root.layout.setRowStretchFactor(1, 3)
        self.activity = QLabel("pick a unit")
        self.activity.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.activity)
        layout.addWidget(self.graphics, stretch=1)
        self.unit: tuple[str, int] | None = None
        self.patches: list[units.Patch] = []
        self._tile: tuple[int, int] = (1, 1)

    @staticmethod
    def _picture(plot: pg.PlotItem, title: str, tooltip: str) -> pg.ImageItem:
        colors.style_plot(plot, title, "", "", tooltip)
        plot.getViewBox().setAspectLocked(True)
        plot.getViewBox().invertY(True)
        image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(image)
        return image

    # --- drawing ----------------------------------------------------------------------------
    def show_unit(self, snapshot: Snapshot, layer: str, unit: int,
                  result: units.UnitScan | None, images: np.ndarray | None,
                  dead_live: bool | None = None) -> None:
        """Draw `unit` of `layer` for `snapshot`; patches and activity come from `result`."""
        if self.unit != (layer, unit):
            self.preferred.clear()
            self.preferred_plot.setTitle("preferred input · waiting for the worker")
        self.unit = (layer, unit)
        maps = unit_weights(snapshot, layer, unit)
        columns = min(len(maps), 8)
        tiles = colors.channel_tiles(maps, columns)
        self.weights.show(colors.mosaic(tiles), maps)
        self.weights.plot.setTitle(f"{layer}[{unit}] weights · {'×'.join(map(str, maps.shape))}")
        self._show_map(snapshot, layer, unit)
        self._show_activity(snapshot, layer, unit, result, dead_live)
        self._show_patches(layer, unit, result, images)

    def _show_map(self, snapshot: Snapshot, layer: str, unit: int) -> None:
        names = [spec["name"] for spec in snapshot.architecture]
        index = names.index(layer)
        after = names[index + 1] if index + 1 < len(names) else None
        shown = after if after and snapshot.architecture[index + 1]["type"] in units.ACTIVATIONS \
            else layer
        output = snapshot.trace.layer(shown).output[0]
        if output.ndim == 3:
            self.map.plot.show()
            self.map.levels.signed = shown == layer
            self.map.show(output[unit], output[unit])
            self.map.plot.setTitle(f"{shown}[{unit}] on {snapshot.sample.describe()}")
        else:
            self.map.plot.hide()

    def _show_activity(self, snapshot: Snapshot, layer: str, unit: int,
                       result: units.UnitScan | None, dead_live: bool | None) -> None:
        z = snapshot.trace.layer(layer).output[0, unit]
        here = f"on {snapshot.sample.describe()}: peak z = {float(np.max(z)):.3f}"
        title = f"<b>{layer}[{unit}]</b>"
        if unit < len(snapshot.class_names) and snapshot.architecture[-1]["name"] == layer:
            title = f"<b>class {snapshot.class_names[unit]}</b> ({layer}[{unit}])"
        parts = [title, here]
        if result is not None and layer in result.layers:
            a = units.activity(result, layer)
            parts.append(f"active on {100 * a.active_fraction[unit]:.1f} % of "
                         f"{result.probe_size:,} probe samples · mean activation "
                         f"{a.mean_activation[unit]:.3f}")
            if a.dead[unit] and snapshot.architecture[-1]["name"] != layer:
                parts.append("<b style='color:#d33'>dead: never active on the probe</b>")
        elif dead_live:
            parts.append("<b style='color:#d33'>dead on the quick probe</b>")
        self.activity.setText(" · ".join(parts))

    def _show_patches(self, layer: str, unit: int, result: units.UnitScan | None,
                      images: np.ndarray | None) -> None:
        for label in self._patch_labels:
            self.patches_plot.removeItem(label)
        self._patch_labels = []
        if result is None or images is None or layer not in result.layers:
            self.patches = []
            self.patches_image.clear()
            self.patches_plot.setTitle("top-9 test patches · run “Analyse units”")
            return
        self.patches = units.top_patches(result, layer, unit)
        r0, c0, r1, c1 = self.patches[0].box
        field = (r1 - r0, c1 - c0)
        # A small field (conv1 sees 5×5) is shown in its surroundings, so the crop is readable
        # and its label fits; the field itself is the tile's centre.
        h, w = (max(n, MIN_TILE) for n in field)
        rows = math.ceil(len(self.patches) / PATCH_COLUMNS)
        tiles = np.full((rows * PATCH_COLUMNS, h, w, *images.shape[3:]), np.nan, np.float32)
        for i, patch in enumerate(self.patches):
            crop = _crop_around(images[patch.index], patch.box, (h, w))
            tiles[i, :crop.shape[0], :crop.shape[1]] = crop
        self.patches_image.setImage(_patch_mosaic(tiles, rows, (h, w)), autoLevels=False,
                                    levels=(0, 255))
        self._tile = (h, w)
        font = QFont()
        font.setPointSize(7)                  # two short lines that fit over a crop
        for i, patch in enumerate(self.patches):
            row, col = divmod(i, PATCH_COLUMNS)
            text = pg.TextItem(f"#{patch.index}\nz {patch.activation:.2f}", color="#ffff66",
                               fill=pg.mkBrush(0, 0, 0, 160),
                               anchor=(0, 0))
            text.setFont(font)
            text.setPos(col * (w + colors.GAP), row * (h + colors.GAP))
            self.patches_plot.addItem(text)
            self._patch_labels.append(text)
        self.patches_plot.setTitle(f"top-9 of {len(result.labels):,} test samples "
                                   f"({field[0]}×{field[1]}: what {layer}[{unit}] sees"
                                   + (", in the middle of each crop)" if (h, w) != field else ")"))
        self.patches_plot.getViewBox().autoRange(padding=0.01)

    def show_preferred(self, found: PreferredInput) -> None:
        if self.unit != (found.layer, found.unit):
            return                                  # an answer for a card no longer shown
        self.preferred.setImage(found.pixels, autoLevels=False, levels=(0, 255))
        self.preferred_plot.setTitle(
            f"preferred input · z = {found.activation:.2f}<br>(start {found.start_activation:.2f}"
            f", seed {found.seed}, {found.steps} steps)")

    def show_preferred_progress(self, done: int, total: int) -> None:
        self.preferred_plot.setTitle(f"preferred input · ascending {done}/{total}")

    # --- patches ------------------------------------------------------------------------------
    def choose_patch(self, i: int) -> None:
        """Make patch `i`'s sample the input, as clicking it does."""
        patch = self.patches[i]
        self.patch_chosen.emit(patch.index, patch.box)

    def _on_patch_click(self, event) -> None:
        if not self.patches:
            return
        pos = event.pos()
        where = colors.locate_in_mosaic((math.ceil(len(self.patches) / PATCH_COLUMNS),
                                         PATCH_COLUMNS, *self._tile), pos.y(), pos.x())
        if where is not None:
            i = where[0] * PATCH_COLUMNS + where[1]
            if i < len(self.patches):
                event.accept()
                self.choose_patch(i)


def _patch_mosaic(tiles: np.ndarray, rows: int, size: tuple[int, int]) -> np.ndarray:
    """Grey tiles (n, h, w) → one mosaic with NaN gaps; colour tiles (n, h, w, 3) → an RGB
    mosaic with black gaps (colour pixels have no NaN colour)."""
    h, w = size
    if tiles.ndim == 3:
        return colors.mosaic(tiles.reshape(rows, PATCH_COLUMNS, h, w))
    channels = [colors.mosaic(tiles[..., c].reshape(rows, PATCH_COLUMNS, h, w))
                for c in range(tiles.shape[3])]
    return np.nan_to_num(np.stack(channels, axis=-1))


def _crop_around(image: np.ndarray, box: tuple[int, int, int, int],
                 size: tuple[int, int]) -> np.ndarray:
    """`size` pixels of `image` centred on `box` (row0, col0, row1, col1), kept inside it."""
    (r0, c0, r1, c1), (h, w) = box, size
    top = min(max(0, (r0 + r1 - h) // 2), max(0, image.shape[0] - h))
    left = min(max(0, (c0 + c1 - w) // 2), max(0, image.shape[1] - w))
    return image[top:top + h, left:left + w]
