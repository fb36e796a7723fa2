"""The step-through panel's arithmetic, written out as HTML for a QTextBrowser.

Each function formats one of `cnnviz.training.stepper`'s explainer results — the numbers are
the engine's, taken apart there — in the manner of the tutorial's worked 3×3 ⊛ 2×2 example:
the patch, the kernel, their products, "sum + bias = value", and the engine's own value beside
it. `input_marks` says which input cells the explained output element came from.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

from cnnviz.training import stepper, stepper_backward, stepper_forward
from cnnviz.training.snapshot import Snapshot

POSITIVE, NEGATIVE = (224, 96, 74), (90, 120, 224)
CELL = "padding:1px 4px; font-family:monospace; font-size:9pt; white-space:nowrap;"
PARA = "font-family:monospace; font-size:9pt;"
WINDOW_CELL = "padding:4px 8px; font-family:monospace; font-size:10pt;"
GRID_CELL = "padding:0px 1px; font-family:monospace; font-size:8pt; white-space:nowrap;"


def num(value: float) -> str:
    """A number to read: 4 decimals in the usual range, else 3 significant digits with e."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    if value == 0:
        return "0"
    text = f"{value:.4f}" if 1e-2 <= abs(value) < 1e4 else f"{value:.3e}"
    return text.replace("-", "−")


def short(value: float) -> str:
    """A number in at most 5 characters for a grid cell: ".514", "−2.81", "12.3", "7e−4"."""
    if not math.isfinite(value):
        return num(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 999.5 or magnitude < 9.995e-3:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}".replace("-", "−")
    digits = 1 if magnitude >= 9.995 else 2 if magnitude >= 0.9995 else 3
    text = f"{value:.{digits}f}"
    if magnitude < 0.9995:
        text = text.replace("0.", ".", 1)            # ".514": the grid has no room for "0"
    return text.replace("-", "−")


def _tint(value: float, scale: float) -> str:
    """A light background: red for positive, blue for negative, stronger for larger |value|."""
    if not math.isfinite(value) or scale <= 0:
        return ""
    colour = POSITIVE if value >= 0 else NEGATIVE
    strength = min(abs(value) / scale, 1.0) * 0.55
    r, g, b = (round(255 + (c - 255) * strength) for c in colour)
    return f"background-color:#{r:02x}{g:02x}{b:02x};"


def grid(values: np.ndarray, tint: bool = True, selected: tuple[int, int] | None = None,
         cell: str = GRID_CELL, fmt=None) -> str:
    """A 2-D array as an HTML table of numbers."""
    scale = float(np.abs(values[np.isfinite(values)]).max()) if np.isfinite(values).any() else 0
    rows = []
    for r, row in enumerate(values):
        cells = []
        for c, value in enumerate(row):
            style = cell + (_tint(value, scale) if tint else "")
            if selected == (r, c):
                style += "font-weight:bold; border:2px solid #00a040;"
            cells.append(f"<td align='right' style='{style}'>{(fmt or short)(value)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<table cellspacing='0' cellpadding='0' style='border:1px solid #888;'>"
            f"{''.join(rows)}</table>")


def table(header: list[str], rows: list[list[str]], bold_row: int | None = None,
          left: int = 0) -> str:
    """A table with a header row; the first `left` columns (words) are left-aligned."""
    def align(i: int) -> str:
        return "left" if i < left else "right"
    head = "".join(f"<th align='{align(i)}' style='{CELL}'>{h}</th>"
                   for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        weight = "font-weight:bold; background-color:#e4f7e8;" if r == bold_row else ""
        body.append("<tr>" + "".join(f"<td align='{align(i)}' style='{CELL}{weight}'>{cell}</td>"
                                     for i, cell in enumerate(row)) + "</tr>")
    return (f"<table cellspacing='0' cellpadding='0' style='border:1px solid #bbb;'>"
            f"<tr style='background-color:#eeeeee;'>{head}</tr>{''.join(body)}</table>")


def check(total: float, engine: float | None, what: str = "the engine's value") -> str:
    """"= total" beside the engine's own number, and whether they agree."""
    if engine is None:
        return ""
    difference = abs(total - engine)
    agree = difference <= 1e-5 * max(1.0, abs(engine)) or (total == engine)
    mark = ("<span style='color:#1a8a35'>✓ agrees</span>" if agree
            else "<span style='color:#c0392b'>✗ differs</span>")
    rounding = " (float32 rounding)" if 0 < difference and agree else ""
    return (f"<p>{what}: <b>{num(engine)}</b> &nbsp; {mark}{rounding}"
            f"{f', |Δ| = {difference:.1e}' if difference else ''}</p>")


def _index(index: tuple[int, ...]) -> str:
    if len(index) == 3:
        return f"[{index[0]}] (row {index[1]}, col {index[2]})"
    return "[" + ", ".join(str(i) for i in index) + "]"


# --- forward ---------------------------------------------------------------------------------
def forward_total(arithmetic, position: tuple[int, ...]) -> float | None:
    """The number the forward arithmetic arrives at for `position` (None: not explained)."""
    if isinstance(arithmetic, stepper.NotExplained):
        return None
    if isinstance(arithmetic, stepper_forward.SoftmaxArithmetic):
        return float(arithmetic.probabilities[position[0]])
    return float(arithmetic.total)


def forward_html(snapshot: Snapshot, op: stepper.Operation, position: tuple[int, ...],
                 arithmetic) -> str:
    """The arithmetic behind one forward output element."""
    name = op.layer
    if isinstance(arithmetic, stepper.NotExplained):
        return not_explained_html(op, arithmetic)
    if isinstance(arithmetic, stepper_forward.ConvArithmetic):
        return _conv_html(name, arithmetic)
    if isinstance(arithmetic, stepper_forward.PoolArithmetic):
        return _pool_html(name, arithmetic)
    if isinstance(arithmetic, stepper_forward.DenseArithmetic):
        return _dense_html(name, arithmetic)
    if isinstance(arithmetic, stepper_forward.SoftmaxArithmetic):
        return _softmax_html(snapshot, arithmetic, position[0])
    if isinstance(arithmetic, stepper_forward.LossArithmetic):
        return _loss_html(snapshot, arithmetic)
    return _element_html(op, arithmetic)


def _conv_html(name: str, a: stepper_forward.ConvArithmetic) -> str:
    channel, row, col = a.position
    k = a.kernel.shape[-1]
    r0, c0 = a.origin
    parts = [f"<p><b>{name}{_index(a.position)}</b> = Σ over {len(a.patch)} input channel"
             f"{'s' if len(a.patch) > 1 else ''} of patch ⊙ kernel, + bias "
             f"(paper eq. 8). The patch is input rows {r0}–{r0 + k - 1}, cols {c0}–{c0 + k - 1}"
             f"{' (zeros outside the image: padding)' if min(r0, c0) < 0 else ''}.</p>",
             "<table cellspacing='3'>"
             "<tr><th></th><th>input patch a</th><th></th><th>kernel W"
             f"[{channel}, c′]</th><th></th><th>products a·W</th></tr>"]
    for c in range(len(a.patch)):
        parts.append(f"<tr><td style='{CELL}'>c′ = {c}<br>Σ {short(a.channel_sums[c])}</td>"
                     f"<td>{grid(a.patch[c], tint=False)}</td><td>⊙</td>"
                     f"<td>{grid(a.kernel[c])}</td><td>=</td><td>{grid(a.products[c])}</td>"
                     f"</tr>")
    parts.append("</table>")
    parts.append(f"<p style='{PARA}'>Σ of all {a.products.size} products = {num(a.sum)}<br>"
                 f"+ bias b[{channel}] = {num(a.bias)}<br>"
                 f"= <b>{num(a.total)}</b></p>")
    parts.append(check(a.total, a.engine, f"engine's z{_index(a.position)}"))
    return "".join(parts)


def _pool_html(name: str, a: stepper_forward.PoolArithmetic) -> str:
    channel = a.position[0]
    r0, c0 = a.origin
    size = len(a.window)
    r, c = a.selected
    return (f"<p><b>{name}{_index(a.position)}</b> = the largest of its {size}×{size} window "
            f"(paper eq. 29): input channel {channel}, rows {r0}–{r0 + size - 1}, cols "
            f"{c0}–{c0 + size - 1}.</p>"
            f"{grid(a.window, tint=False, selected=a.selected, cell=WINDOW_CELL, fmt=num)}"
            f"<p style='{PARA}'>max = <b>{num(a.total)}</b>, at window cell (row {r}, col {c}) "
            f"= input ({r0 + r}, {c0 + c}) — the cell the pool's mask marks, and the only one "
            f"the backward pass will send a gradient to (eq. 30).</p>"
            + check(a.total, a.engine, f"engine's output{_index(a.position)}"))


def _dense_html(name: str, a: stepper_forward.DenseArithmetic) -> str:
    (unit,) = a.position
    rows = [[str(i + 1), str(j), num(w), num(x), num(t)]
            for i, (j, w, x, t) in enumerate(zip(a.indices, a.weights, a.inputs, a.terms))]
    count = len(a.terms) + a.rest_count
    return (f"<p><b>{name}[{unit}]</b> = Σ_j W[{unit}, j] · a_j + b[{unit}] over {count} inputs "
            f"(paper eq. 1). The {len(a.terms)} largest terms by |W·a|:</p>"
            + table(["#", "j", f"W[{unit}, j]", "a_j", "W·a"], rows)
            + f"<p style='{PARA}'>listed terms: {num(float(np.sum(a.terms)))}<br>"
            f"+ the other {a.rest_count} terms: {num(a.rest)}<br>"
            f"= Σ W·a = {num(a.sum)}<br>+ bias b[{unit}] = {num(a.bias)}<br>"
            f"= <b>{num(a.total)}</b></p>" + check(a.total, a.engine, f"engine's z[{unit}]"))


def _softmax_html(snapshot: Snapshot, a: stepper_forward.SoftmaxArithmetic, selected: int) -> str:
    names = snapshot.class_names
    rows = [[names[c] if c < len(names) else str(c), num(z), num(z - a.maximum), num(e),
             num(p), num(float(q))]
            for c, (z, e, p, q) in enumerate(zip(a.logits, a.exps, a.probabilities, a.engine))]
    p = a.probabilities[selected]
    return (f"<p><b>softmax</b>: p_c = e^(z_c − max z) / Σ e^(z − max z) (paper eq. 33); "
            f"subtracting max z = {num(a.maximum)} keeps e^… ≤ 1 and changes nothing else.</p>"
            + table(["class", "z", "z − max", "e^(z − max)", "p = e/Σ", "engine p"], rows,
                    selected)
            + f"<p style='{PARA}'>Σ e^(z − max) = {num(a.exp_sum)}<br>"
            f"p[{selected}] = {num(a.exps[selected])} / {num(a.exp_sum)} = <b>{num(p)}</b><br>"
            f"target class {a.target}: −log p = {num(a.loss)} (the loss, next)</p>"
            + check(float(p), float(a.engine[selected]), f"engine's p[{selected}]"))


def _loss_html(snapshot: Snapshot, a: stepper_forward.LossArithmetic) -> str:
    if a.kind == "SoftmaxCrossEntropy":
        t = int(a.targets.argmax())
        rows = [[str(c), num(p), num(y), num(term)]
                for c, (p, y, term) in enumerate(zip(a.outputs, a.targets, a.terms))]
        head = (f"<p><b>cross-entropy</b>: ℓ = −Σ_c y_c log p_c (paper eq. 35). Only the "
                f"target class {t} has y = 1, so ℓ = −log p[{t}] = −log {num(a.outputs[t])}."
                f"</p>")
        body = table(["class", "p", "y", "−y log p"], rows, t)
    else:
        rows = [[str(c), num(o), num(y), num(term)]
                for c, (o, y, term) in enumerate(zip(a.outputs, a.targets, a.terms))]
        head = ("<p><b>squared error</b> (tutorial): E = (y′ − O)² / 2, with O the sigmoid "
                "output and y′ = 1 for a digit > 4, else 0.</p>")
        body = table(["output", "O", "y′", "(y′ − O)²/2"], rows)
    return (head + body + f"<p style='{PARA}'>= <b>{num(a.total)}</b> for this one sample "
            f"(a training step averages it over a batch)</p>"
            + check(a.total, a.engine, "engine's loss"))


def not_explained_html(op: stepper.Operation, a: stepper.NotExplained) -> str:
    """An op of a kind the stepper has no explainer for: say so, and show the engine's value."""
    what = "output" if a.direction == "forward" else "gradient"
    return (f"<p><b>{escape(a.text)}</b>: the step-through view has no {a.direction} "
            f"explainer for {escape(op.layer)}'s kind, so it shows the engine's {what} without "
            f"taking it apart.</p><p style='{PARA}'>engine's value{_index(a.position)}: "
            f"<b>{num(a.engine)}</b></p>")


def _element_html(op: stepper.Operation, a: stepper_forward.ElementArithmetic) -> str:
    if a.moved:
        return (f"<p><b>{op.layer}[{a.position[0]}]</b> = input{_index(a.source)}: the maps "
                f"laid out channel by channel, row by row (index = c·H·W + row·W + col).</p>"
                f"<p style='{PARA}'>= <b>{num(a.total)}</b></p>"
                + check(a.total, a.engine, "engine's value"))
    return (f"<p><b>{op.layer}{_index(a.position)}</b> = {a.rule} with z = input"
            f"{_index(a.source)}.</p><p style='{PARA}'>z = {num(a.input)}<br>"
            f"{a.rule} = <b>{num(a.total)}</b></p>" + check(a.total, a.engine, "engine's a"))


# --- backward --------------------------------------------------------------------------------
def backward_html(snapshot: Snapshot, op: stepper.Operation,
                  chain: stepper_backward.BackwardChain | stepper.NotExplained) -> str:
    """Each chain-rule step: its factors, their products, the sum, and the engine's value."""
    if isinstance(chain, stepper.NotExplained):
        return not_explained_html(op, chain)
    parts = [f"<p>Backward through <b>{op.layer}</b>: the chain rule, with the gradient that "
             f"arrived from the operation after it.</p>"]
    for step in chain.steps:
        rows = [[" × ".join(f"{escape(label)} <b>{num(value)}</b>" for label, value in t.factors),
                 num(t.value)] for t in step.terms]
        parts.append(f"<h4 style='margin-bottom:2px'>{escape(step.quantity)} = "
                     f"{escape(step.equation)}</h4>")
        parts.append(table(["factors", "product"], rows, left=1))
        tail = (f"+ the other {step.rest_count} terms: {num(step.rest)}<br>"
                if step.rest_count else "")
        parts.append(f"<p style='{PARA}'>{tail}= <b>{num(step.total)}</b></p>")
        if step.engine is None:
            parts.append("<p><i>The engine never forms this number: it fuses softmax and "
                         "cross-entropy, whose chain collapses to p − y (next step).</i></p>")
        parts.append(check(step.total, step.engine, "engine's gradient"))
    extra = BACKWARD_EXTRAS.get(op.kind)
    if extra is not None:
        parts.append(extra(snapshot, op, chain.position))
    return "".join(parts)


def _pool_window_html(snapshot: Snapshot, op: stepper.Operation,
                      position: tuple[int, ...]) -> str:
    """The window around the cell: forward values (winner marked) and the gradients it got."""
    layer = snapshot.trace.layer(op.layer)
    size = layer.input.shape[2] // layer.output.shape[2]
    config = stepper.layer_config(snapshot, op.layer)
    size, stride = config.get("size", size), config.get("stride", size)
    channel, row, col = position
    y, x = row // stride, col // stride
    if y >= layer.output.shape[2] or x >= layer.output.shape[3]:
        return ""
    pool = stepper_forward.pool_arithmetic(layer, channel, y, x, size, stride)
    r0, c0 = pool.origin
    grads = layer.grad_input[0, channel, r0:r0 + size, c0:c0 + size].astype(np.float64)
    values = grid(pool.window, tint=False, selected=pool.selected, cell=WINDOW_CELL, fmt=num)
    received = grid(grads, selected=pool.selected, cell=WINDOW_CELL, fmt=num)
    return (f"<p>Window ({y}, {x}) of channel {channel}: the forward values (the winner "
            f"framed) and the gradient each cell receives.</p><table cellspacing='6'><tr>"
            f"<td>{values}</td><td>→</td><td>{received}</td>"
            f"</tr></table>")


# Kinds whose backward step shows more than its chain: a pool's window and what it passes back.
BACKWARD_EXTRAS = {"MaxPool2D": _pool_window_html}


# --- update ----------------------------------------------------------------------------------
def update_html(snapshot: Snapshot, a) -> str:
    """Adam's (or SGD's) arithmetic for one weight."""
    where = f"{a.name}{_index(a.index)}"
    intro = (f"<p>The update one training step on <b>this sample alone</b> (a batch of 1) would "
             f"make to <b>{where}</b>, from the trace's gradient and the optimizer's current "
             f"state. Training averages g over a batch of "
             f"{_batch_size(snapshot)} samples instead.</p>")
    if isinstance(a, stepper.AdamArithmetic):
        rows = [["g = ∂ℓ/∂w", "from the backward pass", num(a.g)],
                ["m", f"first moment after {a.t - 1} steps", num(a.m)],
                ["v", "second moment", num(a.v)],
                ["m′", f"β1·m + (1−β1)·g = {a.beta1:g}·m + {1 - a.beta1:.3g}·g", num(a.m_new)],
                ["v′", f"β2·v + (1−β2)·g² = {a.beta2:g}·v + {1 - a.beta2:.3g}·g²",
                 num(a.v_new)],
                ["m̂", f"m′ / (1 − β1^{a.t}) = m′ / {num(1 - a.beta1 ** a.t)}", num(a.m_hat)],
                ["v̂", f"v′ / (1 − β2^{a.t}) = v′ / {num(1 - a.beta2 ** a.t)}", num(a.v_hat)],
                ["step", f"lr · m̂ / (√v̂ + ε) = {a.lr:g} · m̂ / ({num(math.sqrt(a.v_hat))} + "
                 f"{a.eps:g})", num(a.step)],
                ["w", "the weight now", num(a.w)],
                ["w′", "w − step", f"<b>{num(a.w_new)}</b>"]]
        title = f"<p><b>Adam</b>, step t = {a.t} (paper §4)</p>"
    else:
        rows = [["g = ∂ℓ/∂w", "from the backward pass", num(a.g)],
                ["v", "velocity so far", num(a.velocity)],
                ["v′", f"μ·v − lr·g = {a.momentum:g}·v − {a.lr:g}·g", num(a.velocity_new)],
                ["w", "the weight now", num(a.w)],
                ["w′", "w + v′", f"<b>{num(a.w_new)}</b>"]]
        title = "<p><b>Gradient descent with momentum</b> (tutorial: w_new = w − lr·∂E/∂w)</p>"
    return (intro + title + table(["", "how", "value"], rows, left=2)
            + f"<p style='{PARA}'>w′ − w = <b>{num(a.w_new - a.w)}</b></p>")


def _batch_size(snapshot: Snapshot) -> str:
    """The batch size this run trains with (the batch the Adam step averaged over)."""
    return str(snapshot.facts.batch_size)


# --- which input cells an output element came from -------------------------------------------
def input_marks(snapshot: Snapshot, op: stepper.Operation, position: tuple[int, ...],
                arithmetic) -> list[tuple[tuple[int, ...], int, int]]:
    """(top-left index, height, width) of the input cells behind `op.output[position]`."""
    if isinstance(arithmetic, stepper.NotExplained):
        return []                                      # unknown: marking any cell would guess
    if isinstance(arithmetic, stepper_forward.ConvArithmetic):
        k = arithmetic.kernel.shape[-1]
        return [((c, *arithmetic.origin), k, k) for c in range(len(arithmetic.patch))]
    if isinstance(arithmetic, stepper_forward.PoolArithmetic):
        size = len(arithmetic.window)
        return [((arithmetic.position[0], *arithmetic.origin), size, size)]
    if isinstance(arithmetic, stepper_forward.DenseArithmetic):
        return [((int(j),), 1, 1) for j in arithmetic.indices]
    if isinstance(arithmetic, stepper_forward.ElementArithmetic):
        return [(arithmetic.source, 1, 1)]
    if isinstance(arithmetic, stepper_forward.SoftmaxArithmetic):
        return [(position, 1, 1)]
    if isinstance(arithmetic, stepper_forward.LossArithmetic):
        return [((int(arithmetic.targets.argmax()),), 1, 1)] if op.input.size > 1 else []
    return _backward_marks(snapshot, op, position)


def _backward_marks(snapshot: Snapshot, op: stepper.Operation,
                    position: tuple[int, ...]) -> list[tuple[tuple[int, ...], int, int]]:
    marks = BACKWARD_MARKS.get(op.kind)
    if marks is not None:
        return marks(snapshot, op, position)
    if op.input.shape == op.output.shape and op.input.size > 1:
        return [(position, 1, 1)]                      # element-wise ops, softmax
    return []


def _flatten_marks(snapshot: Snapshot, op: stepper.Operation,
                   position: tuple[int, ...]) -> list[tuple[tuple[int, ...], int, int]]:
    return [((int(np.ravel_multi_index(position, op.output.shape)),), 1, 1)]


def _pool_marks(snapshot: Snapshot, op: stepper.Operation,
                position: tuple[int, ...]) -> list[tuple[tuple[int, ...], int, int]]:
    config = stepper.layer_config(snapshot, op.layer)
    stride = config.get("stride", op.output.shape[1] // op.input.shape[1])
    channel, row, col = position
    return [((channel, row // stride, col // stride), 1, 1)]


def _conv_marks(snapshot: Snapshot, op: stepper.Operation,
                position: tuple[int, ...]) -> list[tuple[tuple[int, ...], int, int]]:
    config = stepper.layer_config(snapshot, op.layer)
    k = snapshot.trace.layer(op.layer).params["W"].shape[-1]
    s, p = config.get("stride", 1), config.get("padding", 0)
    _, row, col = position
    r0, c0 = -(-(row + p - k + 1) // s), -(-(col + p - k + 1) // s)
    r1, c1 = (row + p) // s, (col + p) // s
    return [((c, r0, c0), r1 - r0 + 1, c1 - c0 + 1) for c in range(op.input.shape[0])]


# The ∂ℓ/∂(output) cells a backward op's element at `position` was computed from, for the
# kinds that are not element-wise (checked before the element-wise rule: a 'same' convolution
# keeps its shape but mixes channels and neighbours).
BACKWARD_MARKS = {"Flatten": _flatten_marks, "MaxPool2D": _pool_marks, "Conv2D": _conv_marks}
