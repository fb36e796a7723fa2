"""Data parallelism over processes: one batch's forward and backward shared between CPU cores.

A training step of the reference network is a few hundred NumPy calls on arrays of a few hundred
kB. NumPy lets go of the GIL inside each call but not between them, so two *threads* stepping
two copies of the network measured only 1.48× one thread here (2 cores, batch 32). Processes share
no GIL. Each helper process builds the same architecture, reads the parameters from one block of
shared memory, and runs the forward and backward pass of its share of the batch; this process
runs the first share itself and sums the gradients, weighted by share size, into the model's
`grads` — the batch mean, up to float32 rounding. The optimizer then runs here, once.

Arrays only ever travel through the shared block; the pipes carry small JSON messages (no
pickle; the helpers' side is in cnnviz.nn.helper_process). A helper that dies, fails or stops
answering is stopped and its share computed here instead, so a lost helper costs speed, never a
step. "Stops answering" adapts to the work: 20 × the recent median time a share took, at least
2 s (a stopped helper once stalled training for the old fixed 60 s). While a wait lasts, an
optional `on_waiting` callback hears about it, so a window can say why it is not moving.
Helpers start on first use and stop with `close()`, when this process exits, or by themselves
when it dies (their pipe closes).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import statistics
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from cnnviz.nn.helper_process import BlockLayout, Share, local_pass, serve, wait_for
from cnnviz.nn.losses import SoftmaxCrossEntropy
from cnnviz.nn.model import Sequential

log = logging.getLogger(__name__)

MIN_SHARE = 8            # samples: smaller shares are not worth a round trip to a helper
MAX_PROCESSES = 4        # batch 32 in more shares than this gives helpers too little to do
# A spawned helper imports NumPy and builds the model in ~0.2 s here; a loaded machine may take
# many times that. The same allowance covers each kind of share's first run, with no history yet.
START_TIMEOUT = 10.0
MIN_STEP_TIMEOUT = 2.0   # seconds: never give up on a helper sooner than this
SLOWDOWN = 20.0          # ... nor before it has taken this many times its recent median share
RECENT_SHARES = 20       # how many recent shares' times the median is taken over
WAIT_REPORT_AFTER = 0.5  # seconds of waiting before `on_waiting` is first called
WAIT_REPORT_EVERY = 0.25  # seconds between calls after that
POLL = 0.05              # seconds between checks on a helper that has not answered yet

WaitingCallback = Callable[[float, str], None]


def default_processes() -> int:
    """How many processes share a batch: $CNNVIZ_PROCESSES, else one per core (at most 4)."""
    setting = os.environ.get("CNNVIZ_PROCESSES", "").strip()
    if setting:
        try:
            return max(1, int(setting))
        except ValueError:
            log.warning("CNNVIZ_PROCESSES=%r is not a number; using one per core", setting)
    return max(1, min(os.cpu_count() or 1, MAX_PROCESSES))


# --- this process's side -----------------------------------------------------------------------

class HelperLost(RuntimeError):
    """A helper process died, hung or failed; its share is computed here instead."""


class _Helper:
    """One helper process and the pipe to it."""

    def __init__(self, context: Any, index: int) -> None:
        self.hung = False                              # it let a deadline pass: kill, do not ask
        self.sent: tuple[str, int, float] | None = None    # (op, samples, when) of its share
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=serve, args=(child_end,), daemon=True,
                                       name=f"cnnviz-helper-{index}")
        self.process.start()
        child_end.close()

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.connection.send_bytes(json.dumps(message).encode())
        except OSError as error:
            raise HelperLost(f"{self.process.name} is gone ({error})") from None

    def receive(self, timeout: float, report: Callable[[float, str], None] | None = None,
                doing: str = "computing its share") -> None:
        """Wait up to `timeout` s for the answer to the last message; raise HelperLost unless it
        succeeded. Waits longer than WAIT_REPORT_AFTER are `report`ed every WAIT_REPORT_EVERY."""
        started = time.monotonic()
        next_report = started + WAIT_REPORT_AFTER
        while not wait_for(self.connection, POLL):     # returns at once when the answer is there
            now = time.monotonic()
            if not self.process.is_alive():
                raise HelperLost(f"{self.process.name} stopped (exit code "
                                 f"{self.process.exitcode})")
            if now - started > timeout:
                self.hung = True
                raise HelperLost(f"{self.process.name} did not answer in {timeout:.1f} s "
                                 f"({doing})")
            if report is not None and now >= next_report:
                report(now - started, f"{self.process.name} {doing} "
                                      f"(given up at {timeout:.1f} s)")
                next_report = now + WAIT_REPORT_EVERY
        try:
            reply = json.loads(self.connection.recv_bytes())
        except (EOFError, OSError):
            raise HelperLost(f"{self.process.name} closed its pipe") from None
        if "error" in reply:
            raise HelperLost(f"{self.process.name} failed: {reply['error']}")

    def stop(self) -> None:
        if not self.hung:        # a hung (e.g. SIGSTOPped) helper would not read this: kill it
            try:
                self.connection.send_bytes(b'{"op": "stop"}')
            except OSError:
                pass
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2)
        self.connection.close()


class _ShareTimes:
    """Recent seconds per sample of helpers' shares, by operation: the adaptive timeout."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}

    def timeout(self, op: str, samples: int) -> float:
        """Seconds a share of `samples` may keep this process waiting: SLOWDOWN × the recent
        median, at least MIN_STEP_TIMEOUT; START_TIMEOUT while `op` has no history."""
        recent = self._recent.get(op)
        if not recent:
            return START_TIMEOUT
        return max(MIN_STEP_TIMEOUT, SLOWDOWN * statistics.median(recent) * samples)

    def record(self, op: str, samples: int, seconds: float) -> None:
        self._recent.setdefault(op, deque(maxlen=RECENT_SHARES)).append(seconds / samples)

    def clear(self) -> None:
        """Forget the history: a new architecture has its own speed."""
        self._recent.clear()


class _Resources:
    """What must be released however the pool ends: the helpers, the shared block, its views."""

    def __init__(self) -> None:
        self.helpers: list[_Helper] = []
        self.block: SharedMemory | None = None
        self.params: dict[str, np.ndarray] = {}
        self.shares: list[Share] = []

    def release_block(self) -> None:
        self.params, self.shares = {}, []
        if self.block is not None:
            try:
                self.block.close()
            except BufferError:     # a view of it is still alive: the memory goes with it
                pass
            self.block.unlink()
            self.block = None

    def stop_helpers(self) -> None:
        for helper in self.helpers:
            helper.stop()
        self.helpers.clear()

    def close(self) -> None:
        self.stop_helpers()
        self.release_block()


class ProcessPool:
    """Shares batches of a model in this process with `processes − 1` helper processes.

    `train_pass` and `forward` take the model each time: the helpers rebuild when its
    architecture changes. Use from one thread at a time (a lock makes sure).

    `on_waiting(seconds_waited, why)`, if set (here or later as an attribute), is called from
    the thread that waits on a helper once the wait passes WAIT_REPORT_AFTER seconds, then
    every WAIT_REPORT_EVERY seconds until the answer comes or the helper is given up.
    """

    def __init__(self, processes: int | None = None,
                 on_waiting: WaitingCallback | None = None) -> None:
        self.processes = default_processes() if processes is None else max(1, int(processes))
        self.on_waiting = on_waiting
        self.failure: str | None = None        # why the helpers were given up, if they were
        self._times = _ShareTimes()
        self._resources = _Resources()
        self._finalizer = weakref.finalize(self, self._resources.close)
        self._lock = threading.Lock()
        # What the helpers hold: (the model, its loss kind, the block's layout, its architecture).
        self._built: tuple[weakref.ref, str, BlockLayout, dict] | None = None
        # How many shares the last `train_pass` summed (1: the whole batch here): what a replay
        # needs to repeat that step bit for bit (`sharded_pass`).
        self.last_parts = 1

    @property
    def active(self) -> int:
        """Processes that take part right now (1 after a failure or before any batch)."""
        return 1 + len(self._resources.helpers)

    def close(self) -> None:
        """Stop the helpers and free the shared block; the pool then works in this process only."""
        with self._lock:
            self._finalizer()
            self._built = None
            self.processes = 1

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the work ------------------------------------------------------------------------------
    def train_pass(self, model: Sequential, loss: Any, x: np.ndarray,
                   targets: np.ndarray) -> float:
        """Forward, loss and backward of a batch; the model's grads end up the batch means.

        Returns the batch's mean cost, as `local_pass` would (up to float32 rounding).
        """
        with self._lock:
            try:
                return self._train_pass(model, loss, x, targets)
            finally:
                self._stop_if_failed()

    def _train_pass(self, model: Sequential, loss: Any, x: np.ndarray,
                    targets: np.ndarray) -> float:
        parts = self._parts(len(x))
        self.last_parts = 1
        if len(parts) == 1 or not self._ready(model, loss, x, parts):
            return local_pass(model, loss, x, targets)
        self.last_parts = len(parts)
        targets = np.ascontiguousarray(targets)
        sent = self._scatter(model, "train", x, parts, targets)
        # Each share's gradients come scaled to its part of the batch mean: they just add up,
        # in the model's gradient arrays, which are fresh from its backward pass.
        n = len(x)
        own = _size(parts[0]) / n
        cost = local_pass(model, loss, x[parts[0]], targets[parts[0]], own) * own
        total = dict(model.named_gradients())
        for share, part, answered in self._gather(parts, sent):
            weight = _size(part) / n
            if answered:
                cost += float(share.cost[0]) * weight
                grads = share.grads
            else:                                 # the helper is gone: its share here
                cost += local_pass(model, loss, x[part], targets[part], weight) * weight
                grads = dict(model.named_gradients())
            for name, grad in total.items():
                grad += grads[name]
        for layer_name, layer in model.layers.items():
            for key in layer.params:
                layer.grads[key] = total[f"{layer_name}.{key}"]
        return cost

    def sharded_pass(self, model: Sequential, loss: Any, x: np.ndarray, targets: np.ndarray,
                     shares: int) -> float:
        """`sharded_pass(model, loss, x, targets, shares)`, bit for bit — with the helpers
        computing their parts when they are running and split the batch the same way (a
        replay of a step the pool trained: about twice as fast). It never starts helpers."""
        with self._lock:
            try:
                parts = self._parts(len(x))
                if shares > 1 and len(parts) == shares and self._resources.helpers \
                        and self._ready(model, loss, x, parts):
                    cost = self._train_pass(model, loss, x, targets)
                    if self.last_parts == shares:
                        return cost
                return sharded_pass(model, loss, x, targets, shares)
            finally:
                self.last_parts = shares
                self._stop_if_failed()

    def forward(self, model: Sequential, x: np.ndarray) -> np.ndarray:
        """The model's outputs (N, *output_shape) for a batch (`Sequential.infer`), in shares."""
        with self._lock:
            try:
                return self._forward(model, x)
            finally:
                self._stop_if_failed()

    def _forward(self, model: Sequential, x: np.ndarray) -> np.ndarray:
        parts = self._parts(len(x))
        if len(parts) == 1 or not self._ready(model, None, x, parts):
            return model.infer(x)
        sent = self._scatter(model, "forward", x, parts)
        outputs = [model.infer(x[parts[0]])]
        for share, part, answered in self._gather(parts, sent):
            n = _size(part)
            outputs.append(share.outputs[:n].reshape(n, *outputs[0].shape[1:]).copy()
                           if answered else model.infer(x[part]))
        return np.concatenate(outputs)

    def _scatter(self, model: Sequential, op: str, x: np.ndarray, parts: list[slice],
                 targets: np.ndarray | None = None) -> list[bool]:
        """Parameters into the block, then each helper its share (all but the first part);
        whether each message went out."""
        for name, value in model.named_parameters():
            self._resources.params[name][...] = value
        return [self._send(helper, share, op, x[part],
                           None if targets is None else targets[part], _size(part) / len(x))
                for helper, share, part in zip(self._resources.helpers, self._resources.shares,
                                               parts[1:])]

    def _gather(self, parts: list[slice], sent: list[bool]) -> Iterator[tuple[Share, slice, bool]]:
        """Each helper's share, its part of the batch, and whether its answer arrived."""
        for helper, share, part, ok in zip(list(self._resources.helpers),
                                           self._resources.shares, parts[1:], sent):
            yield share, part, ok and self._answered(helper)

    # --- helpers' lifecycle ---------------------------------------------------------------------
    def _parts(self, n: int) -> list[slice]:
        return batch_parts(n, self.processes)

    def _ready(self, model: Sequential, loss: Any, x: np.ndarray, parts: list[slice]) -> bool:
        """Make the helpers hold `model`'s architecture with room for these shares.

        False (work here alone) for anything but float32, or once helpers have failed.
        """
        if self.failure is not None or x.dtype != np.float32 or any(
                value.dtype != np.float32 for _, value in model.named_parameters()):
            return False
        largest = max(_size(part) for part in parts[1:])
        if self._built is not None:
            built_model, built_loss, layout, architecture = self._built
            # Another model of the same architecture (a replay's) needs no new build: the
            # parameters travel through the block with every batch.
            same = built_model() is model or model.config() == architecture
            if (same and layout.capacity >= largest
                    and layout.helpers >= len(parts) - 1
                    and (loss is None or built_loss == loss.kind)):
                return True
        try:
            return self._survived(lambda: self._build(model, loss, largest, len(parts) - 1))
        except (OSError, RuntimeError, ValueError) as error:  # no processes or shared memory
            self._give_up(f"could not start helper processes: {error}")
            return False

    def _build(self, model: Sequential, loss: Any, largest: int, helpers: int) -> None:
        """Start missing helpers, make a block big enough, and have every helper build the model."""
        resources = self._resources
        context = multiprocessing.get_context("spawn")   # fork is unsafe with threads (Qt, BLAS)
        while len(resources.helpers) < helpers:
            resources.helpers.append(_Helper(context, len(resources.helpers) + 1))
        architecture = model.config()
        # Batches without a loss (forward only) keep the helpers' loss, if they have one.
        loss_kind = loss.kind if loss is not None else (
            self._built[1] if self._built else SoftmaxCrossEntropy.kind)
        layout = BlockLayout({name: value.shape for name, value in model.named_parameters()},
                             math.prod(model.input_shape), math.prod(model.output_shape()),
                             1 << max(8, (largest - 1).bit_length()), len(resources.helpers))
        resources.release_block()
        resources.block = SharedMemory(create=True, size=layout.nbytes())
        resources.params, resources.shares = layout.carve(resources.block.buf)
        message = {"op": "build", "block": resources.block.name, "layout": layout.to_json(),
                   "architecture": architecture, "loss": loss_kind}
        for index, helper in enumerate(resources.helpers):
            helper.send({**message, "index": index})
        for helper in resources.helpers:
            helper.receive(START_TIMEOUT, self._report, "starting up")
        self._built = (weakref.ref(model), loss_kind, layout, architecture)
        self._times.clear()

    def _send(self, helper: _Helper, share: Share, op: str, x: np.ndarray,
              targets: np.ndarray | None = None, scale: float = 1.0) -> bool:
        """Put a share's inputs in the block and tell its helper; False if it is gone."""
        n = len(x)
        share.x[:n] = x.reshape(n, -1)
        message: dict[str, Any] = {"op": op, "n": n}
        if targets is not None:
            raw = targets.view(np.uint8).reshape(-1)
            share.targets[:raw.size] = raw
            message["targets"] = {"dtype": targets.dtype.str, "shape": list(targets.shape)}
            message["scale"] = scale
        helper.sent = (op, n, time.monotonic())
        return self._survived(lambda: helper.send(message))

    def _answered(self, helper: _Helper) -> bool:
        """Wait for `helper`'s share, no longer than its recent speed warrants."""
        op, samples, sent_at = helper.sent
        timeout = self._times.timeout(op, samples)
        if not self._survived(lambda: helper.receive(timeout, self._report)):
            return False
        # From sending to noticing the answer: at least the helper's time, never less.
        self._times.record(op, samples, time.monotonic() - sent_at)
        return True

    def _report(self, seconds: float, why: str) -> None:
        callback = self.on_waiting
        if callback is None:
            return
        try:
            callback(seconds, why)
        except Exception as error:   # a broken display must not break the talk with the helpers
            # Text only: the exception's frames would keep views of the shared block alive.
            log.warning("the on_waiting callback of a ProcessPool failed: %s: %s",
                        type(error).__name__, str(error))

    def _survived(self, exchange: Callable[[], None]) -> bool:
        """Run one exchange with helpers; if one is lost, give them up and return False."""
        try:
            exchange()
        except HelperLost as error:
            self._give_up(str(error))
            return False
        return True

    def _give_up(self, reason: str) -> None:
        """Record why helpers are given up; `_stop_if_failed` stops them after the batch."""
        if self.failure is None:
            log.warning("cnnviz helper processes stopped; computing in one process: %s", reason)
            self.failure = reason

    def _stop_if_failed(self) -> None:
        # The block stays until `close()`: an exception passing through may still hold views.
        if self.failure is not None and self._resources.helpers:
            self._resources.stop_helpers()
            self._built = None


def batch_parts(n: int, processes: int) -> list[slice]:
    """A batch of `n` in up to `processes` near-equal slices of at least MIN_SHARE samples."""
    count = max(1, min(processes, n // MIN_SHARE))
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def sharded_pass(model: Sequential, loss: Any, x: np.ndarray, targets: np.ndarray,
                 shares: int) -> float:
    """What `ProcessPool.train_pass` computes when it splits the batch in `shares` parts, in
    this process alone and bit for bit: each part's gradients scaled to its part of the batch
    mean, added in the same order. With one share it is `local_pass`.

    A replay of a recorded run uses it, so the run repeats exactly whatever number of
    processes recorded it (cnnviz.training.timeline)."""
    bounds = [round(i * len(x) / max(1, shares)) for i in range(max(1, shares) + 1)]
    parts = [slice(a, b) for a, b in zip(bounds, bounds[1:])]
    if len(parts) == 1:
        return local_pass(model, loss, x, targets)
    n = len(x)
    targets = np.ascontiguousarray(targets)
    own = _size(parts[0]) / n
    cost = local_pass(model, loss, x[parts[0]], targets[parts[0]], own) * own
    total = {name: grad.copy() for name, grad in model.named_gradients()}
    for part in parts[1:]:
        weight = _size(part) / n
        cost += local_pass(model, loss, x[part], targets[part], weight) * weight
        for name, grad in model.named_gradients():
            total[name] += grad
    for layer_name, layer in model.layers.items():
        for key in layer.params:
            layer.grads[key] = total[f"{layer_name}.{key}"]
    return cost


def _size(part: slice) -> int:
    return part.stop - part.start
