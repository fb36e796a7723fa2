"""Training as plain Python: a Trainer advances one batch per `step()`; `run()` is a generator.

Usable headless (the CLI) and from the GUI's worker thread alike. The Trainer
owns the model and the optimizer; callers read results, never the live arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cnnviz.data import Split, normalize_images
from cnnviz.nn import Optimizer, Preset, Sequential, get_preset, make_optimizer
from cnnviz.nn.architecture import Architecture
from cnnviz.nn.parallel import ProcessPool, sharded_pass
from cnnviz.nn.presets import CUSTOM, DIGITS, custom_preset


@dataclass(frozen=True)
class TrainSettings:
    """What a user chooses before training; `None` means "the preset's value".

    `architecture`: the user's own network (then `preset` is "custom")."""

    preset: str = "reference"
    epochs: int = 3
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    momentum: float = 0.9
    seed: int = 0
    train_limit: int | None = None
    init: str | None = None
    architecture: Architecture | None = None

    def __post_init__(self) -> None:
        if (self.architecture is not None) != (self.preset == CUSTOM):
            raise ValueError(f"the {CUSTOM!r} preset goes with an architecture and only it; got "
                             f"preset {self.preset!r} and architecture {self.architecture!r:.60}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch size must be ≥ 1, got {self.batch_size}")
        if self.lr is not None and not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError(f"train limit must be ≥ 1, got {self.train_limit}")


@dataclass(frozen=True)
class StepResult:
    """What one training batch did."""

    step: int                 # batches done since the start, 1-based
    epoch: int                # 0-based epoch this batch belongs to
    batch_in_epoch: int       # 1-based
    batches_per_epoch: int
    samples_seen: int
    cost: float               # the batch's mean loss, before the update

    @property
    def epoch_progress(self) -> float:
        """Epochs done, fractional: 1.5 means halfway through the second epoch."""
        return self.epoch + self.batch_in_epoch / self.batches_per_epoch


@dataclass(frozen=True)
class TrainerPosition:
    """Where a Trainer is in its run, apart from the model and optimizer: enough to go on from
    there exactly (cnnviz.training.timeline keeps one per keyframe)."""

    step_count: int
    order_rng_state: dict     # the RNG's state just before it drew this epoch's batch order


@dataclass(frozen=True)
class Evaluation:
    """A model's results on a whole split."""

    accuracy: float
    cost: float
    predictions: np.ndarray        # (N,) predicted class
    probabilities: np.ndarray      # (N, K)
    classes: np.ndarray            # (N,) true class in the preset's task

    @staticmethod
    def join(results: list[Evaluation]) -> Evaluation:
        """One Evaluation from those of consecutive chunks of a split."""
        sizes = [len(r.predictions) for r in results]
        return Evaluation(
            accuracy=float(np.average([r.accuracy for r in results], weights=sizes)),
            cost=float(np.average([r.cost for r in results], weights=sizes)),
            predictions=np.concatenate([r.predictions for r in results]),
            probabilities=np.concatenate([r.probabilities for r in results]),
            classes=np.concatenate([r.classes for r in results]))


def model_inputs(model: Sequential, images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) grey or (N, H, W, 3) RGB pixels → float32 (N, C, H, W) scaled as
    `model` expects (its `input_scaling`): the one way every step, evaluation and trace feeds
    a network."""
    scaling = model.input_scaling
    return normalize_images(images, scaling.mean, scaling.std)


def settings_preset(settings: TrainSettings, class_names: tuple[str, ...] | None = None
                    ) -> Preset:
    """The preset `settings` name, or for an architecture its custom preset with
    `class_names` (default the digits)."""
    if settings.architecture is not None:
        return custom_preset(settings.architecture, class_names or DIGITS)
    return get_preset(settings.preset)


def file_settings(settings: TrainSettings) -> dict:
    """The settings as a model file's `info["settings"]` keeps them (the architecture is
    stored whole beside it, see cnnviz.nn.files)."""
    return {k: v for k, v in vars(settings).items() if k != "architecture"}


def make_optimizer_for(preset: Preset, settings: TrainSettings) -> Optimizer:
    kind = settings.optimizer or preset.optimizer
    if kind.lower() == "adam":
        beta1, beta2 = (preset.beta1, preset.beta2) if preset.optimizer == "Adam" else (0.9, 0.999)
        return make_optimizer("adam", lr=settings.lr or preset.lr, beta1=beta1, beta2=beta2)
    momentum = preset.momentum if preset.optimizer == "SGD" else settings.momentum
    return make_optimizer("sgd", lr=settings.lr or preset.lr, momentum=momentum)


class Trainer:
    """Mini-batch training of `model` on a data split, one `step()` at a time.

    With a `pool`, each batch's forward and backward are shared with its helper processes
    (the caller closes the pool); without one, everything runs in this process.
    """

    def __init__(self, model: Sequential, preset: Preset, optimizer: Optimizer, train: Split,
                 *, batch_size: int, epochs: int, seed: int = 0,
                 train_limit: int | None = None, pool: ProcessPool | None = None,
                 prepared: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.model, self.preset, self.optimizer, self.pool = model, preset, optimizer, pool
        self.loss = preset.make_loss()
        self._rng = np.random.default_rng(seed)
        count = len(train) if train_limit is None else min(train_limit, len(train))
        # A limit takes a seeded random subset: data sets may be stored ordered by class (the
        # bundled 5k is), so the first N samples could all be zeros.
        chosen = np.sort(self._rng.permutation(len(train))[:count])
        # `prepared`: the same inputs and targets another Trainer with this seed and limit made.
        self._x, self._targets = prepared if prepared is not None else (
            model_inputs(model, train.images[chosen]), preset.make_targets(train.labels[chosen]))
        self.batch_size, self.epochs = batch_size, epochs
        self.batches_per_epoch = -(-count // batch_size)
        self._order_rng_state = self._rng.bit_generator.state
        self._order = self._rng.permutation(count)
        self.step_count = 0
        # A replay sets `shares`: each batch is then computed as a pool of that many processes
        # would, bit for bit (with this trainer's pool's help, if its split is the same). None:
        # the pool splits batches as it can (one share without a pool). `last_shares` says
        # how the last step was computed.
        self.shares: int | None = None
        self.last_shares = 1

    @classmethod
    def from_settings(cls, settings: TrainSettings, preset: Preset, train: Split,
                      model: Sequential | None = None,
                      pool: ProcessPool | None = None,
                      prepared: tuple[np.ndarray, np.ndarray] | None = None) -> Trainer:
        """A Trainer for a fresh model (or the given one) built as `settings` say."""
        model = model or preset.create(settings.seed, settings.init)
        return cls(model, preset, make_optimizer_for(preset, settings), train,
                   batch_size=settings.batch_size or preset.batch_size, epochs=settings.epochs,
                   seed=settings.seed, train_limit=settings.train_limit, pool=pool,
                   prepared=prepared)

    @property
    def prepared(self) -> tuple[np.ndarray, np.ndarray]:
        """The normalized inputs and targets it trains on, to share with a replaying Trainer."""
        return self._x, self._targets

    def position(self) -> TrainerPosition:
        return TrainerPosition(self.step_count, self._order_rng_state)

    def seek(self, position: TrainerPosition) -> None:
        """Go on from `position` (with the model and optimizer set to match it)."""
        self._rng.bit_generator.state = position.order_rng_state
        self._order_rng_state = self._rng.bit_generator.state
        self._order = self._rng.permutation(len(self._x))
        self.step_count = position.step_count

    @property
    def total_steps(self) -> int:
        return self.batches_per_epoch * self.epochs

    @property
    def finished(self) -> bool:
        return self.step_count >= self.total_steps

    @property
    def train_size(self) -> int:
        return len(self._x)

    def step(self) -> StepResult:
        """Train on the next batch: forward, loss, backward, optimizer update."""
        epoch, batch = divmod(self.step_count, self.batches_per_epoch)
        if batch == 0 and self.step_count > 0:
            self._order_rng_state = self._rng.bit_generator.state
            self._order = self._rng.permutation(len(self._x))   # reshuffle every epoch
        index = self._order[batch * self.batch_size:(batch + 1) * self.batch_size]
        x, targets = self._x[index], self._targets[index]
        if self.shares is None and self.pool:
            cost = self.pool.train_pass(self.model, self.loss, x, targets)
        elif self.pool:
            cost = self.pool.sharded_pass(self.model, self.loss, x, targets, self.shares)
        else:
            cost = sharded_pass(self.model, self.loss, x, targets, self.shares or 1)
        self.last_shares = self.pool.last_parts if self.pool else self.shares or 1
        self.optimizer.step(self.model)
        self.step_count += 1
        return StepResult(step=self.step_count, epoch=epoch, batch_in_epoch=batch + 1,
                          batches_per_epoch=self.batches_per_epoch,
                          samples_seen=self.step_count * self.batch_size, cost=cost)

    def run(self) -> Iterator[StepResult]:
        """Yield after every batch until all epochs are done; stop iterating to pause."""
        while not self.finished:
            yield self.step()


def evaluate(model: Sequential, preset: Preset, split: Split, batch_size: int = 256,
             limit: int | None = None, pool: ProcessPool | None = None) -> Evaluation:
    """Accuracy and mean cost of `model` on `split` (optionally its first `limit` samples).

    With a `pool`, each batch is shared with its helper processes."""
    images, labels = split.images[:limit], split.labels[:limit]
    x, targets = model_inputs(model, images), preset.make_targets(labels)
    classes = preset.label_classes(labels)
    loss, probabilities, costs = preset.make_loss(), [], []
    for start in range(0, len(x), batch_size):
        chunk = slice(start, start + batch_size)
        outputs = pool.forward(model, x[chunk]) if pool else model.infer(x[chunk])
        costs.append(loss.forward(outputs, targets[chunk]) * len(x[chunk]))
        probabilities.append(np.asarray(loss.probs))
    probs = np.concatenate(probabilities)
    if probs.shape[1] == 1:                  # one sigmoid output: P(class 1)
        probs = np.concatenate([1 - probs, probs], axis=1)
    predictions = probs.argmax(axis=1)
    return Evaluation(accuracy=float((predictions == classes).mean()),
                      cost=float(sum(costs) / len(x)), predictions=predictions,
                      probabilities=probs, classes=classes)
