"""The helper processes' side of cnnviz.nn.parallel, and the shared block both sides view.

A helper builds the architecture it is sent, points its parameters at the block (it reads them
in place; only the main process writes them), and for each message computes its share of a
batch: the inputs come from its region of the block, and its gradients, cost or outputs go back
there. Messages are JSON over a pipe; arrays never travel through it.
"""

from __future__ import annotations

import json
import math
import signal
import time
from multiprocessing.shared_memory import SharedMemory
from typing import Any, NamedTuple

import numpy as np

from cnnviz.nn.losses import LOSS_TYPES
from cnnviz.nn.model import Sequential

ALIGN = 64               # bytes: regions start on their own cache line
# While training, the next message comes within a millisecond. Waiting for it by polling, not
# sleeping, saves the ~0.1 ms a sleeping process takes to wake up, twice a step: the batch-32
# ratio to PyTorch rose by 2–14 % (benchmarks/engine.py, three runs each way). Longer waits sleep.
SPIN_SECONDS = 0.001


def wait_for(connection: Any, timeout: float) -> bool:
    """True once `connection` has a message, within `timeout` seconds; polls the first
    SPIN_SECONDS, then sleeps."""
    spin_until = time.perf_counter() + min(SPIN_SECONDS, timeout)
    while time.perf_counter() < spin_until:
        if connection.poll(0):
            return True
    return connection.poll(max(0.0, timeout - SPIN_SECONDS))


def local_pass(model: Sequential, loss: Any, x: np.ndarray, targets: np.ndarray,
               scale: float = 1.0) -> float:
    """Forward, loss and backward of one batch in this process; fills `model`'s grads.

    Returns the batch's mean cost. With `scale` = a share's size over its whole batch's, the
    gradients are that share's part of the batch mean, so the shares' gradients just add up.
    """
    cost = loss.forward(model.forward(x), targets)
    grad = loss.backward()
    model.backward(grad * scale if scale != 1.0 else grad, input_grad=False)
    return cost


# --- the shared block ----------------------------------------------------------------------------

class Share(NamedTuple):
    """One helper's regions of the block."""

    grads: dict[str, np.ndarray]    # its gradients, by parameter name
    x: np.ndarray                   # (capacity, input size) float32 inputs
    targets: np.ndarray             # raw bytes of its targets
    outputs: np.ndarray             # (capacity, output size) float32 network outputs
    cost: np.ndarray                # (1,) float64 mean loss of its share


class BlockLayout(NamedTuple):
    """What the block holds: parameter shapes, sizes, and how many helpers' shares."""

    shapes: dict[str, tuple[int, ...]]
    input_size: int
    output_size: int
    capacity: int                   # samples one share may hold
    helpers: int

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "shapes": {k: list(v) for k, v in self.shapes.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlockLayout:
        return cls(**{**data, "shapes": {k: tuple(v) for k, v in data["shapes"].items()}})

    def _regions(self) -> list[tuple[str, tuple[int, ...], type]]:
        """Every region in block order: (name, shape, dtype); helpers' names are prefixed."""
        params = [(name, shape, np.float32) for name, shape in self.shapes.items()]
        per_share = [("x", (self.capacity, self.input_size), np.float32),
                     ("targets", (self.capacity * self.output_size * 8,), np.uint8),
                     ("outputs", (self.capacity, self.output_size), np.float32),
                     ("cost", (1,), np.float64)]
        return [*params, *((f"{h}/{name}", shape, dtype) for h in range(self.helpers)
                           for name, shape, dtype in (*params, *per_share))]

    def nbytes(self) -> int:
        return sum(_aligned(math.prod(shape) * np.dtype(dtype).itemsize)
                   for _, shape, dtype in self._regions())

    def carve(self, buffer: Any) -> tuple[dict[str, np.ndarray], list[Share]]:
        """The parameters and every helper's share as arrays over `buffer` (nothing copied)."""
        arrays, offset = {}, 0
        for name, shape, dtype in self._regions():
            count = math.prod(shape)
            arrays[name] = np.frombuffer(buffer, dtype, count, offset).reshape(shape)
            offset += _aligned(count * np.dtype(dtype).itemsize)
        params = {name: arrays[name] for name in self.shapes}
        shares = [Share({name: arrays[f"{h}/{name}"] for name in self.shapes}, arrays[f"{h}/x"],
                         arrays[f"{h}/targets"], arrays[f"{h}/outputs"], arrays[f"{h}/cost"])
                  for h in range(self.helpers)]
        return params, shares


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


# --- the helper process ----------------------------------------------------------------------

class HelperModel:
    """What a helper holds: the model built from the architecture, its parameters in the block."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.layout = BlockLayout.from_json(message["layout"])
        self.block = SharedMemory(message["block"])
        params, shares = self.layout.carve(self.block.buf)
        self.share = shares[message["index"]]
        self.model = Sequential.from_config(message["architecture"])
        for layer_name, layer in self.model.layers.items():
            for key in layer.params:
                layer.params[key] = params[f"{layer_name}.{key}"]     # read in place
        self.loss = LOSS_TYPES[message["loss"]]()

    def train(self, message: dict[str, Any]) -> None:
        n, targets, scale = message["n"], message["targets"], message["scale"]
        target_array = np.frombuffer(self.share.targets, targets["dtype"],
                                     math.prod(targets["shape"])).reshape(targets["shape"])
        x = self.share.x[:n].reshape(n, *self.model.input_shape)
        # A diverging run overflows: the main process sees the non-finite cost and says so
        # once, as in one process; the helper must not print warnings of its own.
        with np.errstate(over="ignore", invalid="ignore"):
            self.share.cost[0] = local_pass(self.model, self.loss, x, target_array, scale)
        for name, grad in self.model.named_gradients():
            self.share.grads[name][...] = grad

    def forward(self, message: dict[str, Any]) -> None:
        n = message["n"]
        self.share.outputs[:n] = self.model.infer(
            self.share.x[:n].reshape(n, *self.model.input_shape)).reshape(n, -1)

    def close(self) -> None:
        del self.share, self.model, self.loss   # they view the block, which cannot close under them
        try:
            self.block.close()
        except BufferError:              # a view survives somewhere: the memory goes with it
            pass


def serve(connection: Any) -> None:
    """A helper process's life: build what it is told to, compute the shares it is sent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl+C is for the main process to handle
    held: HelperModel | None = None
    try:
        while True:
            while not wait_for(connection, 3600.0):
                pass
            message = json.loads(connection.recv_bytes())
            if message["op"] == "stop":
                break
            try:
                if message["op"] == "build":
                    if held is not None:
                        held.close()
                    held = None
                    held = HelperModel(message)
                elif held is not None and message["op"] in ("train", "forward"):
                    getattr(held, message["op"])(message)
                else:
                    raise ValueError(f"unexpected message {message['op']!r}")
                reply: dict[str, Any] = {"ok": True}
            except Exception as error:           # reported to the main process, which goes on
                reply = {"error": f"{type(error).__name__}: {error}"}
            connection.send_bytes(json.dumps(reply).encode())
    except (EOFError, OSError):                  # the main process is gone
        pass
    finally:
        if held is not None:
            held.close()
