"""A training session: the live model, its trainer, the chosen sample, and the snapshots.

Plain Python, so the whole command set the window uses (train, pause, step, reset, choose a
sample, find a mistake) is unit-tested without Qt. The GUI's worker thread owns one session
and calls it only from that thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import replace

import numpy as np

from cnnviz.data import MnistData, Split
from cnnviz.nn import Checkpoint, Optimizer, Preset, Sequential, capture
from cnnviz.nn.files import checkpoint_preset
from cnnviz.nn.parallel import ProcessPool
from cnnviz.training.app_state import RunState, SampleRef
from cnnviz.training.data_checks import check_data_fits, class_names_for
from cnnviz.training.dead_units import DeadUnitLog
from cnnviz.training.divergence import is_diverging
from cnnviz.training.pins import PinBoard
from cnnviz.training.run_history import CostPoint, EvalPoint, GradStat, RunHistory
from cnnviz.training.snapshot import Progress, RunFacts, Snapshot
from cnnviz.training.timeline import Timeline
from cnnviz.training.timeline_files import load_timeline, timeline_arrays
from cnnviz.training.trainer import (
    Evaluation,
    Trainer,
    TrainSettings,
    evaluate,
    make_optimizer_for,
    model_inputs,
    settings_preset,
)
from cnnviz.training.what_if import WhatIf

EVAL_SUBSET = 500          # test samples scored during training: cheap, yet a useful curve
EVALS_PER_EPOCH = 2
MISTAKE_CHUNK = 256


class Diverged(RuntimeError):
    """The cost became non-finite or exploded; the last good parameters were restored.

    `where` places the failed step on the cost curve (its cost field is the bad cost)."""

    def __init__(self, message: str, where: CostPoint) -> None:
        super().__init__(message)
        self.where = where


class TrainingSession:
    """Owns one model and everything needed to train it and to trace a sample through it."""

    def __init__(self, data: MnistData, settings: TrainSettings | None = None,
                 model: Sequential | None = None, model_label: str | None = None,
                 processes: int | None = None) -> None:
        self.data = data
        # Batches are shared with helper processes (one per core by default), started on first
        # use and kept across resets; `close()` stops them.
        self.pool = ProcessPool(processes)
        self.sample = SampleRef("test", 0)
        self.history = RunHistory()
        self.timeline: Timeline | None = None
        self.dead_units = DeadUnitLog()       # keyed on the history's run id: reset with it
        self.pins = PinBoard()                # pinned samples' curves, kept with the run
        self._snapshot_id = 0
        self.reset(settings or TrainSettings(), model, model_label)

    # --- building -------------------------------------------------------------------------
    def reset(self, settings: TrainSettings, model: Sequential | None = None,
              model_label: str | None = None, preset: Preset | None = None) -> None:
        """Start over: a fresh model from `settings.seed` (or the given model), no history.
        `preset` (default: the one `settings` name, with the data's class names) drives it."""
        self.settings = settings
        self.preset: Preset = preset or settings_preset(
            settings, getattr(self.data, "class_names", None))
        self.trainer = Trainer.from_settings(settings, self.preset, self.data.train, model,
                                             self.pool)
        self.model_label = model_label or f"live (seed {settings.seed})"
        self.state = RunState.IDLE
        self.what_if: WhatIf | None = None     # filter surgery's modified copy, while shown
        self.history.clear()
        self._train_seconds = 0.0
        self._good_params = self.trainer.model.state_dict()
        self._first_cost: float | None = None
        self._offset = CostPoint(0, 0, 0.0, 0.0)     # where this run starts on the cost curve
        if self.timeline is None or self.timeline.train is not self.data.train:
            self.timeline = Timeline(self.preset, self.data.train)
        self.timeline.preset, self.timeline.pool = self.preset, self.pool
        self.timeline.clear()
        self._begin_segment()

    def _begin_segment(self) -> None:
        """The timeline goes on from the trainer as it stands, at this run's offset."""
        self.timeline.begin(self.trainer, self.settings, self._offset.step, self._offset.epoch)

    def close(self) -> None:
        """Stop the helper processes; the session still works, in this process alone."""
        self.pool.close()

    def load(self, checkpoint: Checkpoint, label: str, preset: Preset | None = None) -> None:
        """Look at (and train further) a model from a file, with its optimizer state if saved;
        `preset` defaults to the one the file names (or the one its network fits).

        All or nothing: if any part of the file does not fit, the session stays as it was."""
        preset = preset or checkpoint_preset(checkpoint)
        before = dict(self.__dict__)
        self.history = RunHistory()           # the old one stays untouched in `before`
        self.timeline = None                  # ... and so does the old timeline
        try:
            self.reset(replace(self.settings, preset=preset.name,
                               architecture=preset.architecture), checkpoint.model, label, preset)
            optimizer = checkpoint.optimizer
            if optimizer and optimizer.get("kind") == self.trainer.optimizer.kind:
                self.trainer.optimizer.load_state_dict(optimizer)
            self._restore_history(checkpoint)
            self.timeline.clear()
            load_timeline(self.timeline, checkpoint.extras, self.trainer.model)
            self._begin_segment()
        except Exception:
            self.__dict__.update(before)
            raise

    def _restore_history(self, checkpoint: Checkpoint) -> None:
        """Put a saved model's cost history on the curve, so training it further continues it."""
        settings = checkpoint.info.get("settings", {})
        batch = int(settings.get("batch_size") or self.trainer.batch_size)
        per_epoch = -(-int(checkpoint.info.get("train_size", 0) or self.trainer.train_size)
                      // batch)
        names = tuple(name for name, _ in self.trainer.model.named_parameters())
        self.history.load_arrays(checkpoint.extras, batch, per_epoch, names)
        last = self.history.last_cost
        if last is not None:
            self._offset = CostPoint(last.step, last.samples, last.epoch, 0.0)

    def set_learning_rate(self, lr: float) -> None:
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr}")
        self.trainer.optimizer.lr = float(lr)
        self.settings = replace(self.settings, lr=float(lr))

    def continue_training(self, settings: TrainSettings) -> None:
        """Keep the current weights but start a new run with `settings` (e.g. more epochs)."""
        model, optimizer_state = self.trainer.model, self.trainer.optimizer.state_dict()
        kind = self.trainer.optimizer.kind
        label, history, timeline = self.model_label, self.history, self.timeline
        offset = self._offset_point(self.trainer.step_count, self.trainer.step_count
                                    * self.trainer.batch_size, self.trainer.step_count
                                    / self.trainer.batches_per_epoch)
        self.history, self.timeline = RunHistory(), None   # throw-away ones for reset()
        same = (settings.preset, settings.architecture) == (self.preset.name,
                                                            self.preset.architecture)
        self.reset(settings, model, label, self.preset if same else None)
        self.history, self._offset = history, offset       # the curve goes on
        if self.trainer.optimizer.kind == kind:
            self.trainer.optimizer.load_state_dict(optimizer_state)
            self.trainer.optimizer.lr = make_optimizer_for(self.preset, settings).lr
        if timeline.train is self.data.train:                  # ... and so does the timeline
            self.timeline = timeline
            self.timeline.preset = self.preset
        self._begin_segment()

    # --- the run state (written here only, from the worker thread) -------------------------
    def check_can_train(self) -> None:
        """Raise a clear error when this data cannot train this network (before any step)."""
        check_data_fits(self.data, self.trainer.model, self.preset, need_test=False)

    def start_training(self) -> None:
        if self.what_if is not None:
            raise ValueError("a what-if copy of the network is shown: Keep or Discard it "
                             "(Experiment tab) before training")
        if self.trainer.finished:
            self.state = RunState.FINISHED
            return
        self.check_can_train()
        self.state = RunState.TRAINING

    def pause_training(self) -> None:
        """Stop after the current step; idle if this run has not trained yet."""
        if self.trainer.finished:
            self.state = RunState.FINISHED
        else:
            self.state = RunState.PAUSED if self.trainer.step_count else RunState.IDLE

    def fall_back_to_first_sample(self) -> bool:
        """After a failed trace: look at test sample #0 instead. False if it already was."""
        current = self.sample
        if (current.split, current.index, current.target) == ("test", 0, None) \
                or len(self.data.test) == 0:
            return False
        self.sample = SampleRef("test", 0)
        return True

    # --- filter surgery (cnnviz.training.what_if) ------------------------------------------
    def begin_what_if(self) -> WhatIf:
        """The what-if copy, made from the live network (training paused) if there is none."""
        if self.state is RunState.TRAINING:
            self.pause_training()
        if self.what_if is None:
            self.what_if = WhatIf(self.trainer.model, self.model_label)
        return self.what_if

    def keep_what_if(self) -> None:
        """The edited weights become the live network's; the copy is gone."""
        if self.what_if is not None:
            self.trainer.model.load_state_dict(self.what_if.model.state_dict())
            self._good_params = self.trainer.model.state_dict()
            if self.what_if.edits and not self.model_label.endswith(" (edited)"):
                self.model_label += " (edited)"
            self.what_if = None

    def discard_what_if(self) -> None:
        self.what_if = None

    # --- training -------------------------------------------------------------------------
    def step(self) -> CostPoint:
        """One training batch; raises Diverged (after restoring weights) on a non-finite cost."""
        # The weights this step starts from; if its cost is fine they are the last good ones.
        before = self.trainer.model.state_dict()       # ~0.4 MB: cheap next to a step
        started = time.perf_counter()
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                result = self.trainer.step()
        except Exception:
            # A step that fails half-way may have updated some parameters: undo it whole.
            self.trainer.model.load_state_dict(before)
            self.timeline.restart_here(self.trainer)
            self.state = RunState.PAUSED if self.trainer.step_count else RunState.IDLE
            raise
        seconds = time.perf_counter() - started
        self._train_seconds += seconds
        if self._first_cost is None:
            self._first_cost = result.cost
        if self._diverging(result.cost):
            self.trainer.model.load_state_dict(self._good_params)
            self.timeline.restart_here(self.trainer)
            self.state = RunState.PAUSED
            where = self._offset_point(result.step, result.samples_seen,
                                       result.epoch_progress, result.cost)
            self.history.add_divergence(where)
            raise Diverged(f"the cost became {result.cost:.4g} at step {where.step} with "
                           f"learning rate {self.trainer.optimizer.lr:g}; the last good weights "
                           f"are restored — try a smaller learning rate", where)
        self._good_params = before
        self.timeline.record(self.trainer, seconds)
        self.pins.after_step(self)
        point = self._offset_point(result.step, result.samples_seen, result.epoch_progress,
                                   result.cost)
        self.history.add_cost(point)
        self.history.add_grad_stat(self._grad_stat(point, before))
        self.dead_units.maybe_record(self.history.run_id, point, self.trainer.model,
                                     self.data.test.images, self._train_seconds)
        interval = max(1, self.trainer.batches_per_epoch // EVALS_PER_EPOCH)
        if result.step % interval == 0 or self.trainer.finished:
            self.history.add_eval(self.evaluate_subset(point))
        if self.trainer.finished:
            self.state = RunState.FINISHED
        return point

    def _grad_stat(self, point: CostPoint, before: dict[str, np.ndarray]) -> GradStat:
        """Gradient norms and update ratios: vanishing, exploding and dead layers show here."""
        grads = dict(self.trainer.model.named_gradients())
        norms, ratios = {}, {}
        for name, value in self.trainer.model.named_parameters():
            norms[name] = float(np.linalg.norm(grads[name]))
            weight_norm = float(np.linalg.norm(before[name]))
            ratios[name] = float(np.linalg.norm(value - before[name])) / weight_norm \
                if weight_norm > 0 else 0.0
        return GradStat(point.step, point.samples, point.epoch, norms, ratios)

    def _offset_point(self, step: int, samples: int, epoch: float, cost: float = 0.0
                      ) -> CostPoint:
        """A point on the cost curve, counted from the first run of this model."""
        o = self._offset
        return CostPoint(o.step + step, o.samples + samples, o.epoch + epoch, cost)

    def _diverging(self, cost: float) -> bool:
        return is_diverging(cost, self._first_cost, self.trainer.model)

    def evaluate_subset(self, point: CostPoint) -> EvalPoint:
        result = evaluate(self.trainer.model, self.preset, self.data.test, limit=EVAL_SUBSET,
                          pool=self.pool)
        return EvalPoint(point.step, point.samples, point.epoch, result.cost, result.accuracy)

    def samples_per_second(self) -> float:
        seconds = self._train_seconds
        return self.trainer.step_count * self.trainer.batch_size / seconds if seconds else 0.0

    def progress(self) -> Progress:
        t = self.trainer
        epoch, batch = divmod(t.step_count, t.batches_per_epoch)
        if batch == 0 and t.step_count:
            epoch, batch = epoch - 1, t.batches_per_epoch
        rate = self.samples_per_second()
        remaining = (t.total_steps - t.step_count) * t.batch_size
        return Progress(self.state, t.step_count, t.total_steps, epoch, t.epochs, batch,
                        t.batches_per_epoch, rate, remaining / rate if rate else None,
                        1 if self.pool.failure else self.pool.processes, self.pool.failure)

    # --- looking inside -------------------------------------------------------------------
    def set_sample(self, sample: SampleRef) -> None:
        if sample.split in ("train", "test"):
            size = len(getattr(self.data, sample.split))
            if not 0 <= sample.index < size:
                raise ValueError(f"{sample.split} index {sample.index} is outside 0..{size - 1}")
        elif self.trainer.model.input_shape[0] != 1:
            raise ValueError(f"drawing needs a grayscale network (1 input channel); this one "
                             f"takes {self.trainer.model.input_shape[0]} channels")
        elif sample.image is None or sample.image.shape != self.image_shape:
            shape = None if sample.image is None else sample.image.shape
            raise ValueError(f"a drawn sample needs a {self.image_shape[0]}×"
                             f"{self.image_shape[1]} image, got {shape}")
        self.sample = sample

    def sample_image_and_label(self, sample: SampleRef) -> tuple[np.ndarray, int | None]:
        if sample.split == "drawn":
            return sample.image, None
        split = getattr(self.data, sample.split)
        return split.images[sample.index], int(split.labels[sample.index])

    @property
    def live_step(self) -> int:
        """The live network's step on the run's timeline (counted from the model's first run)."""
        return self._offset.step + self.trainer.step_count

    def snapshot(self) -> Snapshot:
        """Copies of the shown network's parameters (the what-if copy while there is one)
        and a trace of the current sample."""
        return self._snapshot(self.shown_model(), self.trainer.optimizer, None)

    def snapshot_at(self, step: int | None) -> Snapshot:
        """The network as after training step `step` of the run (0: before the first step;
        None: the live one), traced on the current sample. `shown_step` says which step it
        shows (clamped to the recorded run; see Timeline.shown_step)."""
        if step is None:
            return self.snapshot()
        shown = self.timeline.shown_step(step)
        if shown == self.live_step:
            return self._snapshot(self.trainer.model, self.trainer.optimizer, shown)
        shown, model, optimizer = self.timeline.replay(shown)
        return self._snapshot(model, optimizer, shown)

    def _snapshot(self, model: Sequential, optimizer: Optimizer, shown_step: int | None
                  ) -> Snapshot:
        image, digit = self.sample_image_and_label(self.sample)
        label = None if digit is None else int(self.preset.label_classes(np.array([digit]))[0])
        target = self.sample.target if self.sample.target is not None else label
        x = model_inputs(self.trainer.model, image[None])
        if target is None:     # a drawn digit: show gradients towards the predicted class
            target = int(model.predict_proba(x)[0].argmax())
        targets = self.preset.class_targets(np.array([target]))
        trace = capture(model, self.preset.make_loss(), x, targets)
        self._snapshot_id += 1
        # The optimizer's moments are only worth copying when someone may step through them.
        optimizer_state = None if self.state is RunState.TRAINING and shown_step is None \
            else optimizer.state_dict()
        shown = self.what_if.label if self.what_if is not None and shown_step is None \
            else self.model_label
        return Snapshot(self._snapshot_id, shown, self.facts(), self.progress(),
                        model.state_dict(), self.sample, image.copy(), label, trace,
                        self.history.view(), model.layer_shapes(),
                        tuple(model.config()["layers"]), optimizer_state,
                        shown_step=shown_step, timeline=self.timeline.view(),
                        dead_units=self.dead_units.view(), pins=self.pins.view(self))

    def model_extras(self) -> dict[str, np.ndarray]:
        """What a model file keeps beside the network: the curves and the timeline."""
        return {**self.history.to_arrays(), **timeline_arrays(self.timeline)}

    def shown_model(self) -> Sequential:
        """The network the views show: the what-if copy while there is one, else the live one."""
        return self.trainer.model if self.what_if is None else self.what_if.model

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the network's input images (a drawn one is grey (H, W) too)."""
        return tuple(self.trainer.model.input_shape[-2:])

    def facts(self) -> RunFacts:
        """The run as it is configured now: what views label and explain."""
        optimizer = self.trainer.optimizer
        settings = {k: float(v) for k, v in optimizer.config().items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return RunFacts(self.preset.name, self.preset.make_loss().kind, optimizer.kind,
                        settings, self.trainer.batch_size, self.trainer.train_size,
                        class_names_for(self.preset, self.data),
                        tuple(self.trainer.model.input_shape))

    def evaluate_split(self, split: str,
                       progress: Callable[[int, int], None] | None = None) -> Evaluation:
        """The model on a whole split, in chunks, reporting (done, total) after each."""
        slices = self.evaluate_in_slices(split)
        while True:
            try:
                done_total = next(slices)
            except StopIteration as finished:
                return finished.value
            if progress is not None:
                progress(*done_total)

    def evaluate_in_slices(self, split: str, chunk: int = 1000
                           ) -> Generator[tuple[int, int], None, Evaluation]:
        """The network as it is now on a whole split, one chunk per `next()`: yields (done,
        total) after each and returns the Evaluation. The worker runs other commands (and
        training steps) between chunks, so the network is copied first: the evaluation is of
        one network, whatever trains meanwhile."""
        model = self.shown_model().copy()
        data = getattr(self.data, split)
        if len(data) == 0:
            raise ValueError(f"the {split} split of {data.name!r} is empty")
        results = []
        for start in range(0, len(data), chunk):
            part = Split(data.images[start:start + chunk], data.labels[start:start + chunk],
                         data.name)
            results.append(evaluate(model, self.preset, part))
            yield min(start + chunk, len(data)), len(data)
        return Evaluation.join(results)

    def next_mistake(self, split: str, after: int, label_filter: int | None = None) -> int | None:
        """Index of the next sample (cyclically after `after`) that the model gets wrong.

        Scans forward in chunks and stops at the first mistake, so the answer usually takes a
        few milliseconds rather than a pass over the whole split.
        """
        data = getattr(self.data, split)
        order = np.roll(np.arange(len(data)), -(after + 1))
        if label_filter is not None:
            order = order[data.labels[order] == label_filter]
        for start in range(0, len(order), MISTAKE_CHUNK):
            chunk = order[start:start + MISTAKE_CHUNK]
            part = Split(data.images[chunk], data.labels[chunk], data.name)
            result = evaluate(self.shown_model(), self.preset, part, pool=self.pool)
            wrong = np.flatnonzero(result.predictions != result.classes)
            if len(wrong):
                return int(chunk[wrong[0]])
        return None
