"""The stepper's walk and explainers, checked against the engine's own numbers.

Each explainer takes a trace's numbers apart (a conv patch and kernel, a dense unit's terms,
chain-rule factors, Adam's moments); these tests check that the parts add up to what the engine
computed, at random positions, and that the update shown is the update the engine makes.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import normalize_images
from cnnviz.nn import PRESETS, SGD, Adam, Conv2D, MaxPool2D, SoftmaxCrossEntropy
from cnnviz.nn.losses import MeanSquaredError
from cnnviz.nn.trace import LayerTrace
from cnnviz.training import stepper, stepper_backward, stepper_forward
from cnnviz.training.snapshot import SampleRef

REFERENCE_ORDER = ["conv1", "relu1", "conv2", "relu2", "pool", "flatten", "dense1", "relu3",
                   "dense2", "softmax", "loss"]
TUTORIAL_ORDER = ["conv1", "sigmoid1", "flatten", "dense1", "sigmoid2", "loss"]


@pytest.fixture(scope="module")
def snapshots(recorded_runs):
    """A reference run paused after 20 steps (on two samples) and a tutorial run after 10."""
    return {"reference": recorded_runs.snapshot("reference", 20),
            "other": recorded_runs.snapshot("reference", 20, SampleRef("test", 3)),
            "tutorial": recorded_runs.snapshot("tutorial", 10)}


def random_positions(shape, count, seed):
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]


def assert_engine_close(total, engine, scale):
    """Equal to float32 rounding: the engine sums in float32, the explainers in float64."""
    assert total == pytest.approx(engine, rel=1e-5, abs=1e-6 * max(scale, 1e-3))


# --- the walk ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, order", [("reference", REFERENCE_ORDER),
                                         ("tutorial", TUTORIAL_ORDER)])
def test_operations_go_forward_then_backward_then_update(snapshots, name, order):
    """Every layer forward (plus softmax and loss), the same ops backward, then the update."""
    snapshot = snapshots[name]
    ops = stepper.operations(snapshot)
    assert [op.index for op in ops] == list(range(len(ops)))
    forward = [op.layer for op in ops if op.direction == "forward"]
    backward = [op.layer for op in ops if op.direction == "backward"]
    assert forward == order
    assert backward == order[::-1]
    assert [op.direction for op in ops] == (["forward"] * len(order) + ["backward"] * len(order)
                                            + ["update"])
    update = ops[-1]
    assert update.kind == ("Adam" if name == "reference" else "SGD")
    assert update.parameters == tuple(snapshot.params)
    assert ops[len(order) - 1].kind == ("SoftmaxCrossEntropy" if name == "reference"
                                        else "MeanSquaredError")
    assert all(op.equation and op.title for op in ops)


def test_operation_arrays_are_the_traces(snapshots):
    """Forward ops show each layer's input and output; backward ops its two gradients."""
    snapshot = snapshots["reference"]
    ops = {(op.direction, op.layer): op for op in stepper.operations(snapshot)}
    conv2 = snapshot.trace.layer("conv2")
    assert ops["forward", "conv2"].output is not None
    np.testing.assert_array_equal(ops["forward", "conv2"].input, conv2.input[0])
    np.testing.assert_array_equal(ops["forward", "conv2"].output, conv2.output[0])
    np.testing.assert_array_equal(ops["backward", "conv2"].input, conv2.grad_output[0])
    np.testing.assert_array_equal(ops["backward", "conv2"].output, conv2.grad_input[0])
    np.testing.assert_array_equal(ops["forward", "softmax"].output,
                                  snapshot.trace.probabilities[0])
    assert ops["forward", "loss"].output[0] == snapshot.trace.loss
    np.testing.assert_array_equal(ops["backward", "softmax"].output,
                                  snapshot.trace.layer("dense2").grad_output[0])


def test_without_optimizer_state_the_update_is_unknown(snapshots):
    """While training runs the snapshot has no optimizer state: the update cannot be shown."""
    from dataclasses import replace
    running = replace(snapshots["reference"], optimizer_state=None)
    ops = stepper.operations(running)
    assert np.isnan(ops[-1].output).all()
    with pytest.raises(ValueError, match="no optimizer state"):
        stepper.optimizer_step(running, "conv1.W")


# --- forward arithmetic ----------------------------------------------------------------------
def test_conv_arithmetic_is_the_tutorials_worked_example():
    """The tutorial's 3×3 ⊛ 2×2 example: patches times kernel sum to 9, 32, 14 and 26."""
    layer = Conv2D(1, 1, 2)
    layer.params["W"][...] = np.array([[1, 1], [0, 1]], np.float32)
    x = np.array([[1, 7, 2], [11, 1, 23], [2, 2, 2]], np.float32)[None, None]
    trace = LayerTrace("conv", "Conv2D", x, layer.forward(x), params=layer.params)
    totals = [[stepper_forward.conv_arithmetic(trace, 0, r, c).total for c in range(2)]
              for r in range(2)]
    assert totals == [[9, 32], [14, 26]]
    first = stepper_forward.conv_arithmetic(trace, 0, 0, 0)
    np.testing.assert_array_equal(first.patch[0], [[1, 7], [11, 1]])
    np.testing.assert_array_equal(first.products[0], [[1, 7], [0, 1]])
    assert first.engine == 9


def test_conv_arithmetic_matches_the_engine_at_random_positions(snapshots):
    """Σ patch ⊙ kernel + bias equals the engine's conv output (float32 rounding)."""
    for name in ("conv1", "conv2"):
        layer = snapshots["reference"].trace.layer(name)
        scale = float(np.abs(layer.output).max())
        for position in random_positions(layer.output.shape[1:], 12, seed=len(name)):
            arithmetic = stepper_forward.conv_arithmetic(layer, *position)
            assert arithmetic.patch.shape == (layer.input.shape[1], 5, 5)
            np.testing.assert_allclose(arithmetic.products, arithmetic.patch * arithmetic.kernel)
            assert arithmetic.total == pytest.approx(arithmetic.sum + arithmetic.bias)
            assert arithmetic.engine == layer.output[0][position]
            assert_engine_close(arithmetic.total, arithmetic.engine, scale)


def test_conv_arithmetic_pads_and_strides_as_the_layer():
    """With stride 2 and padding 1 the patch comes from the zero-padded input at 2·row − 1."""
    rng = np.random.default_rng(1)
    layer = Conv2D(2, 3, 3, stride=2, padding=1)
    layer.params["W"][...] = rng.normal(size=layer.params["W"].shape)
    layer.params["b"][...] = rng.normal(size=3)
    x = rng.normal(size=(1, 2, 7, 7)).astype(np.float32)
    trace = LayerTrace("c", "Conv2D", x, layer.forward(x), params=layer.params)
    for position in np.ndindex(trace.output.shape[1:]):
        arithmetic = stepper_forward.conv_arithmetic(trace, *position, stride=2, padding=1)
        assert_engine_close(arithmetic.total, arithmetic.engine, 1.0)
    corner = stepper_forward.conv_arithmetic(trace, 0, 0, 0, stride=2, padding=1)
    assert corner.origin == (-1, -1)
    assert (corner.patch[:, 0, :] == 0).all() and (corner.patch[:, :, 0] == 0).all()
    with pytest.raises(IndexError, match=r"index \(0, 4, 0\) is outside"):
        stepper_forward.conv_arithmetic(trace, 0, 4, 0, stride=2, padding=1)


def test_pool_arithmetic_selects_the_masked_cell(snapshots):
    """The window's maximum is the engine's output and sits on the cell the mask marks."""
    layer = snapshots["reference"].trace.layer("pool")
    for channel, row, col in random_positions(layer.output.shape[1:], 20, seed=3):
        arithmetic = stepper_forward.pool_arithmetic(layer, channel, row, col)
        assert arithmetic.total == arithmetic.engine == layer.output[0, channel, row, col]
        r, c = arithmetic.selected
        assert arithmetic.window[r, c] == arithmetic.total
        assert layer.mask[0, channel, 2 * row + r, 2 * col + c]
        assert layer.mask[0, channel, 2 * row:2 * row + 2, 2 * col:2 * col + 2].sum() == 1


def test_pool_arithmetic_breaks_ties_as_the_engine():
    """An all-equal window (MNIST's flat background) selects its first cell, like the mask."""
    layer = MaxPool2D(2, 2)
    x = np.zeros((1, 1, 4, 4), np.float32)
    trace = LayerTrace("p", "MaxPool2D", x, layer.forward(x), mask=layer.mask)
    assert stepper_forward.pool_arithmetic(trace, 0, 1, 1).selected == (0, 0)


def test_dense_arithmetic_lists_the_largest_terms_and_sums_the_rest(snapshots):
    """Top terms by |w·a|, the rest summed, plus bias: equals the engine's z."""
    for name in ("dense1", "dense2"):
        layer = snapshots["reference"].trace.layer(name)
        scale = float(np.abs(layer.output).max())
        for (unit,) in random_positions(layer.output.shape[1:], 10, seed=4):
            arithmetic = stepper_forward.dense_arithmetic(layer, unit, top=8)
            assert len(arithmetic.terms) == 8
            assert arithmetic.rest_count == layer.input.shape[1] - 8
            magnitudes = np.abs(arithmetic.terms)
            assert (np.diff(magnitudes) <= 0).all()
            everything = layer.params["W"][unit].astype(np.float64) * layer.input[0]
            assert magnitudes[-1] >= np.sort(np.abs(everything))[-9]
            assert arithmetic.sum == pytest.approx(arithmetic.terms.sum() + arithmetic.rest)
            assert_engine_close(arithmetic.total, arithmetic.engine, scale)


def test_softmax_and_loss_arithmetic_match_the_engine(snapshots):
    """exp(z − max) / Σ gives the engine's probabilities; −log p[target] its loss."""
    for name in ("reference", "other"):
        snapshot = snapshots[name]
        logits = snapshot.trace.layer("dense2").output[0]
        target = int(snapshot.trace.targets[0])
        arithmetic = stepper_forward.softmax_arithmetic(snapshot.trace.probabilities, logits,
                                                        target)
        assert arithmetic.exps.max() == 1.0
        assert arithmetic.exp_sum == pytest.approx(arithmetic.exps.sum())
        np.testing.assert_allclose(arithmetic.probabilities, snapshot.trace.probabilities[0],
                                   rtol=1e-5, atol=1e-7)
        assert arithmetic.loss == pytest.approx(snapshot.trace.loss, rel=1e-5)
        loss = stepper_forward.loss_arithmetic(snapshot)
        assert loss.total == pytest.approx(loss.engine, rel=1e-5)


def test_tutorial_forward_arithmetic_matches_the_engine(snapshots):
    """Sigmoid, flatten, the single dense unit and the squared error, on the tutorial net."""
    snapshot = snapshots["tutorial"]
    for op in stepper.operations(snapshot):
        if op.direction != "forward":
            continue
        for position in random_positions(op.output.shape, 5, seed=op.index):
            arithmetic = stepper_forward.forward_arithmetic(snapshot, op, position)
            assert_engine_close(arithmetic.total, arithmetic.engine, 1.0)
    loss = stepper_forward.loss_arithmetic(snapshot)
    out = snapshot.trace.layer("sigmoid2").output[0, 0]
    y = float(snapshot.trace.targets[0, 0])
    assert loss.total == pytest.approx((y - out) ** 2 / 2, rel=1e-6)


def test_element_arithmetic_reads_the_right_input(snapshots):
    """ReLU keeps positive z; flatten's v[j] comes from (c, row, col) in reading order."""
    trace = snapshots["reference"].trace
    flatten = stepper_forward.element_arithmetic(trace.layer("flatten"), (123,))
    assert flatten.source == (1, 2, 3)
    assert flatten.total == flatten.engine
    relu = trace.layer("relu2")
    for position in random_positions(relu.output.shape[1:], 10, seed=5):
        arithmetic = stepper_forward.element_arithmetic(relu, position)
        assert arithmetic.total == arithmetic.engine == max(0.0, arithmetic.input)


# --- backward ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reference", "tutorial"])
def test_backward_chain_equals_the_traces_gradients(snapshots, name):
    """At random positions (and each op's default weight) every chain step equals the trace."""
    snapshot = snapshots[name]
    for op in stepper.operations(snapshot):
        if op.direction != "backward":
            continue
        positions = random_positions(op.output.shape, 4, seed=op.index)
        positions.append(stepper.default_position(op))
        for position in positions:
            chain = stepper_backward.backward_chain(snapshot, op, position)
            assert chain.position == position
            for step in chain.steps:
                assert step.total == pytest.approx(sum(t.value for t in step.terms) + step.rest)
                if step.engine is not None:
                    assert_engine_close(step.total, step.engine, float(np.abs(op.output).max()))
            if op.parameters:
                assert len(chain.steps) == 3       # ∂ℓ/∂a, ∂ℓ/∂W, ∂ℓ/∂b


def test_backward_chain_weight_gradients_at_random_weights(snapshots):
    """∂ℓ/∂W = Σ ∂ℓ/∂z · a (eqs. 3 and 11) and ∂ℓ/∂b (eqs. 4 and 12) at chosen weights."""
    snapshot = snapshots["reference"]
    for op in stepper.operations(snapshot):
        if op.direction != "backward" or not op.parameters:
            continue
        grad = snapshot.trace.layer(op.layer).param_grads["W"]
        for index in random_positions(grad.shape, 4, seed=op.index):
            chain = stepper_backward.backward_chain(snapshot, op,
                                                    parameter=(f"{op.layer}.W", index))
            weight_step, bias_step = chain.steps[1], chain.steps[2]
            assert weight_step.engine == grad[index]
            assert_engine_close(weight_step.total, weight_step.engine, float(np.abs(grad).max()))
            assert_engine_close(bias_step.total, bias_step.engine, 1.0)


def test_backward_chain_for_the_loss_and_softmax(snapshots):
    """∂ℓ/∂p = −y/p (eq. 36), then ∂ℓ/∂z = p − y, also as −1/p_t · p_t(δ − p_i) (eq. 34)."""
    snapshot = snapshots["reference"]
    ops = {(op.direction, op.layer): op for op in stepper.operations(snapshot)}
    target = int(snapshot.trace.targets[0])
    p = snapshot.trace.probabilities[0].astype(np.float64)
    loss = stepper_backward.backward_chain(snapshot, ops["backward", "loss"], (target,))
    assert loss.result.total == pytest.approx(-1 / p[target])
    assert loss.result.engine is None             # the engine fuses softmax and loss
    other = (target + 1) % 10
    loss_chain = stepper_backward.backward_chain(snapshot, ops["backward", "loss"], (other,))
    assert loss_chain.result.total == 0
    softmax = stepper_backward.backward_chain(snapshot, ops["backward", "softmax"], (other,))
    assert [s.total for s in softmax.steps] == pytest.approx([p[other]] * 2)


def test_pool_backward_sends_the_gradient_only_to_the_selected_cell(snapshots):
    """Eq. 30: one window cell receives ∂ℓ/∂a_out, the other three receive 0."""
    snapshot = snapshots["reference"]
    op = next(o for o in stepper.operations(snapshot)
              if o.direction == "backward" and o.layer == "pool")
    layer = snapshot.trace.layer("pool")
    selected = stepper_forward.pool_arithmetic(layer, 2, 3, 4)
    r, c = selected.selected
    for dr in range(2):
        for dc in range(2):
            chain = stepper_backward.backward_chain(snapshot, op, (2, 6 + dr, 8 + dc))
            expected = layer.grad_output[0, 2, 3, 4] if (dr, dc) == (r, c) else 0.0
            assert chain.result.total == expected == chain.result.engine


def test_backward_chain_refuses_a_forward_op(snapshots):
    ops = stepper.operations(snapshots["reference"])
    with pytest.raises(ValueError, match="needs a backward op"):
        stepper_backward.backward_chain(snapshots["reference"], ops[0])


# --- the update ------------------------------------------------------------------------------
def engine_step(snapshot, preset, optimizer, loss):
    """One real training step of the engine on the snapshot's sample alone (batch of 1)."""
    model = PRESETS[preset].build()
    model.load_state_dict(snapshot.params)
    optimizer.load_state_dict(snapshot.optimizer_state)
    output = model.forward(normalize_images(snapshot.sample_image[None]))
    loss.forward(output, snapshot.trace.targets)
    model.backward(loss.backward())
    optimizer.step(model)
    return model.state_dict()


def test_adam_update_is_one_training_step_on_this_sample(snapshots):
    """A full forward+backward+Adam step of the engine gives the w′ the explainer shows."""
    snapshot = snapshots["reference"]
    state = snapshot.optimizer_state
    assert state["kind"] == "Adam" and state["t"] == 20
    after = engine_step(snapshot, "reference", Adam(**state["config"]), SoftmaxCrossEntropy())
    for name in snapshot.params:
        arrays = stepper.optimizer_step(snapshot, name)
        np.testing.assert_allclose(arrays["w_new"], after[name], rtol=1e-6, atol=1e-7)
        assert not np.array_equal(after[name], snapshot.params[name])
        for index in random_positions(snapshot.params[name].shape, 5, seed=len(name)):
            one = stepper.adam_update(snapshot, name, index)
            assert one.w_new == pytest.approx(float(after[name][index]), rel=1e-6, abs=1e-7)
            assert one.t == 21
            assert one.m_new == pytest.approx(one.beta1 * one.m + (1 - one.beta1) * one.g)
            assert one.v_hat == pytest.approx(one.v_new / (1 - one.beta2 ** 21))
            assert one.w_new == pytest.approx(one.w - one.step)


def test_sgd_update_is_one_training_step_on_this_sample(snapshots):
    """The tutorial's momentum SGD: the explainer's w′ is what the engine's step makes."""
    snapshot = snapshots["tutorial"]
    state = snapshot.optimizer_state
    after = engine_step(snapshot, "tutorial", SGD(**state["config"]), MeanSquaredError())
    for name in snapshot.params:
        np.testing.assert_allclose(stepper.optimizer_step(snapshot, name)["w_new"], after[name],
                                   rtol=1e-6, atol=1e-8)
        index = tuple(0 for _ in snapshot.params[name].shape)
        one = stepper.update_arithmetic(snapshot, name, index)
        assert isinstance(one, stepper.SgdArithmetic)
        assert one.w_new == pytest.approx(float(after[name][index]), rel=1e-6, abs=1e-8)


def test_update_refuses_the_wrong_optimizer(snapshots):
    with pytest.raises(ValueError, match="needs an Adam state"):
        stepper.adam_update(snapshots["tutorial"], "conv1.W", (0, 0, 0, 0))
    with pytest.raises(KeyError, match="no parameter named 'conv9.W'"):
        stepper.optimizer_step(snapshots["reference"], "conv9.W")
