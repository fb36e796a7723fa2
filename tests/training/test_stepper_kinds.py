"""The stepper on a layer kind it has no explainer for: "not explained", never a wrong story.

Before the registry an unknown element-wise kind raised KeyError going forward and was
explained as tanh going backward. Here a Square layer (a = z²) sits between a convolution and
a dense layer, registered in cnnviz.nn.kinds or not: its ops say "Square: not explained" and
show the engine's values, and every other op is still explained and adds up.
"""

from __future__ import annotations

import numpy as np
import pytest
from layer_kind_fixtures import SQUARE_KIND, SQUARE_LAYER, registered_square, square_snapshot

from cnnviz.training import stepper, stepper_backward, stepper_forward


@pytest.fixture(params=[False, True], ids=["unregistered", "registered"])
def registered(request):
    with registered_square(request.param):
        yield request.param


def positions(shape, count=4, seed=0):
    rng = np.random.default_rng(seed)
    return [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]


def test_the_walk_names_the_square_ops_and_their_equations(registered):
    """Forward and backward ops for sq, titled with its kind; the equation is the record's."""
    snapshot = square_snapshot()
    ops = [op for op in stepper.operations(snapshot) if op.layer == SQUARE_LAYER]
    assert [op.direction for op in ops] == ["forward", "backward"]
    for op in ops:
        assert op.kind == "Square" and "(Square)" in op.title
    forward, backward = (op.equation for op in ops)
    if registered:
        assert (forward, backward) == (SQUARE_KIND.equations.forward,
                                       SQUARE_KIND.equations.backward)
    else:
        assert forward == backward == "Square: not explained"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_square_ops_are_not_explained_but_keep_the_engines_values(registered, seed):
    snapshot = square_snapshot(seed)
    layer = snapshot.trace.layer(SQUARE_LAYER)
    for op in stepper.operations(snapshot):
        if op.layer != SQUARE_LAYER:
            continue
        for position in positions(op.output.shape, seed=seed):
            if op.direction == "forward":
                result = stepper_forward.forward_arithmetic(snapshot, op, position)
                assert op.output[position] == layer.output[0][position]
            else:
                result = stepper_backward.backward_chain(snapshot, op, position)
                assert op.output[position] == layer.grad_input[0][position]
            assert isinstance(result, stepper.NotExplained)
            assert result.text == "Square: not explained"
            assert result.position == position and result.engine == op.output[position]
            assert result.total is None and result.result.total is None


def test_an_out_of_range_position_is_refused_not_explained(registered):
    snapshot = square_snapshot()
    op = next(op for op in stepper.operations(snapshot) if op.layer == SQUARE_LAYER)
    with pytest.raises(IndexError, match=r"index \(2, 0, 0\) is outside"):
        stepper_forward.forward_arithmetic(snapshot, op, (2, 0, 0))


def test_element_arithmetic_of_the_square_is_not_explained(registered):
    layer = square_snapshot().trace.layer(SQUARE_LAYER)
    result = stepper_forward.element_arithmetic(layer, (1, 2, 3))
    assert isinstance(result, stepper.NotExplained)
    assert result.engine == layer.output[0, 1, 2, 3]


def test_every_other_op_is_still_explained_and_adds_up(registered):
    """conv, flatten, dense, softmax and loss around the square: sums equal the engine's."""
    snapshot = square_snapshot(seed=3)
    explained = 0
    for op in stepper.operations(snapshot):
        if op.layer == SQUARE_LAYER or op.direction == "update":
            continue
        for position in positions(op.output.shape, seed=op.index) + [stepper.default_position(op)]:
            if op.direction == "forward":
                arithmetic = stepper_forward.forward_arithmetic(snapshot, op, position)
                total = arithmetic.total if op.layer != "softmax" else \
                    arithmetic.probabilities[position[0]]
                engine = op.output[position]
            else:
                chain = stepper_backward.backward_chain(snapshot, op, position)
                total, engine = chain.result.total, chain.result.engine
                if engine is None:                    # the fused loss: no engine value
                    continue
            assert not isinstance(arithmetic if op.direction == "forward" else chain,
                                  stepper.NotExplained)
            assert total == pytest.approx(engine, rel=1e-5, abs=1e-6)
            explained += 1
    assert explained >= 30
