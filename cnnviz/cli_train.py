"""`cnnviz train`: a finished run is never thrown away.

Everything that could fail at the end is checked before the first step: the settings, the data
against the network (cnnviz.training.data_checks), and that `--out` can be written. The model
is saved before it is evaluated, and a save that fails anyway goes to a recovery file in the
user's data folder (or the temp folder), named in the error. A run that diverges stops at once
and saves nothing; Ctrl+C stops with one line and saves nothing either (a half-updated model
over the user's file would be worse than none).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")

if TYPE_CHECKING:
    from cnnviz.nn.parallel import ProcessPool


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


class CliInterrupted(Exception):
    """Ctrl+C (SIGINT): printed as one line, exit status 130."""


def run_with_pool(processes: int | None, work: Callable[[ProcessPool], T],
                  describe_interrupt: Callable[[], str]) -> T:
    """`work(pool)` with a ProcessPool that is closed however it ends; a KeyboardInterrupt
    becomes CliInterrupted(describe_interrupt()) once the helpers are stopped."""
    from cnnviz.nn.parallel import ProcessPool

    pool = ProcessPool(processes)
    try:
        return work(pool)
    except KeyboardInterrupt as interrupt:
        # The interrupted frames hold NumPy views of the pool's shared memory block; while
        # they live the block cannot close (BufferError at exit), so their locals go first.
        traceback.clear_frames(interrupt.__traceback__)
    finally:
        _close_uninterrupted(pool)
    raise CliInterrupted(describe_interrupt())


def _close_uninterrupted(pool: ProcessPool) -> None:
    """Close the pool with Ctrl+C ignored, so a second press cannot leave helpers behind."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        pool.close()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def recovery_path(out: Path) -> Path:
    """Where a model goes when `out` cannot be written: the user data folder's recovered/."""
    folder = Path(os.environ.get("CNNVIZ_DATA_DIR") or _user_data_dir()) / "recovered"
    return folder / f"{out.stem}-{time.strftime('%Y%m%d-%H%M%S')}{out.suffix or '.npz'}"


def _user_data_dir() -> str:
    import platformdirs
    return platformdirs.user_data_dir("cnnviz")


def read_architecture(path: Path) -> Any:
    """The Architecture in a JSON file; CliError (one line, naming the file) if it is bad."""
    from cnnviz.nn.architecture import Architecture, ArchitectureError

    try:
        return Architecture.load(path)
    except ArchitectureError as error:
        raise CliError(str(error)) from None


class TrainCommand:
    """One `cnnviz train` run: checked in the constructor, carried out by `__call__(pool)`."""

    def __init__(self, args: argparse.Namespace, data: Any) -> None:
        from cnnviz.nn import files
        from cnnviz.training import TrainSettings
        from cnnviz.training.data_checks import check_data_fits
        from cnnviz.training.trainer import settings_preset

        self.out: Path = args.out
        architecture = read_architecture(args.arch) if getattr(args, "arch", None) else None
        self.settings = TrainSettings(
            preset="custom" if architecture else args.preset, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
            train_limit=args.train_limit, init=args.init, architecture=architecture)
        self.preset = settings_preset(self.settings, getattr(data, "class_names", None))
        self.data = data
        if architecture is not None:
            problem = architecture.problem(self.preset.output_size)
            if problem is not None:
                raise CliError(f"{args.arch}: {problem}")
        self.model = self.preset.create(self.settings.seed, self.settings.init)
        check_data_fits(data, self.model, self.preset)
        files.check_can_save(self.out, self._estimated_bytes())
        self.phase, self.step, self.total_steps = "starting", 0, 0
        self.saved_to = self.out

    def _estimated_bytes(self) -> int:
        """About what the model file will take: weights and two moment slots, the curve."""
        batch = self.settings.batch_size or self.preset.batch_size
        count = min(self.settings.train_limit or len(self.data.train), len(self.data.train))
        steps = math.ceil(count / batch) * self.settings.epochs
        from cnnviz.training.timeline_files import FILE_BUDGET_BYTES
        return (self.model.parameter_count() * 4 * 3 + steps * 8 + (64 << 10)
                + FILE_BUDGET_BYTES)

    def describe_interrupt(self) -> str:
        if self.phase == "evaluating":
            return (f"interrupted while evaluating; the model is saved to {self.saved_to} "
                    f"without its test results")
        if self.phase == "saving":
            return f"interrupted while saving; {self.out} is unchanged"
        return f"interrupted at step {self.step} of {self.total_steps}; nothing saved"

    def __call__(self, pool: ProcessPool) -> int:
        from cnnviz.training import Trainer, evaluate
        from cnnviz.training.timeline import Timeline
        from cnnviz.training.timeline_files import timeline_arrays
        from cnnviz.training.trainer import file_settings

        trainer = Trainer.from_settings(self.settings, self.preset, self.data.train,
                                        model=self.model, pool=pool)
        # Recorded as in the window, so opening the file can replay any step of this run.
        self.timeline = Timeline(self.preset, self.data.train)
        self.timeline.begin(trainer, self.settings, 0, 0.0)
        self.total_steps = trainer.total_steps
        print(f"training {self.preset.title} on {trainer.train_size:,} samples "
              f"({self.data.source}), {self.settings.epochs} epochs, batch {trainer.batch_size}, "
              f"{trainer.optimizer.kind} lr {trainer.optimizer.lr:g}, {pool.processes} "
              f"process{'es' if pool.processes > 1 else ''}", file=sys.stderr)
        started = time.perf_counter()
        costs = self._train(trainer)
        elapsed = time.perf_counter() - started
        if pool.failure:
            print(f"note: continued in one process ({pool.failure})", file=sys.stderr)
        info = {"settings": file_settings(self.settings), "data": self.data.source,
                "steps": trainer.step_count, "train_size": trainer.train_size,
                "train_seconds": round(elapsed, 2)}
        self.phase = "saving"
        self.timeline_extras = timeline_arrays(self.timeline)
        self.saved_to, failure = self._save(trainer, info, {"cost_history": costs,
                                                            **self.timeline_extras}, self.out)
        print(f"trained {trainer.step_count} steps in {elapsed:.1f} s "
              f"({trainer.step_count * trainer.batch_size / elapsed:,.0f} samples/s); "
              f"saved {self.saved_to}")
        self.phase = "evaluating"
        result = evaluate(trainer.model, self.preset, self.data.test, pool=pool)
        self._add_test_results(trainer, info, costs, result)
        print(f"test cost: {result.cost:.4f}")
        print(f"test accuracy: {result.accuracy:.4f}")
        if failure is not None:
            print(f"cnnviz: error: {failure}", file=sys.stderr)
            return 2
        return 0

    def _train(self, trainer: Any) -> list[float]:
        """Every step's cost; raises CliError as soon as the run diverges."""
        import numpy as np

        from cnnviz.training.divergence import is_diverging

        self.phase, costs = "training", []
        # Overflow on the way to divergence is what the check below reports, in one line.
        with np.errstate(over="ignore", invalid="ignore"), tqdm(
                total=trainer.total_steps * trainer.batch_size, unit="samples",
                unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
            for result in trainer.run():
                self.step = result.step
                if is_diverging(result.cost, costs[0] if costs else None, trainer.model):
                    bar.close()
                    lr = trainer.optimizer.lr
                    raise CliError(
                        f"training diverged at step {result.step} of {trainer.total_steps} "
                        f"(cost {result.cost:.4g} with learning rate {lr:g}); nothing saved — "
                        f"try a smaller learning rate, e.g. --lr {lr / 10:g}")
                costs.append(result.cost)
                self.timeline.record(trainer)
                bar.update(trainer.batch_size)
                if result.step % 10 == 0 or trainer.finished:
                    bar.set_postfix(epoch=f"{result.epoch_progress:.2f}",
                                    cost=f"{result.cost:.4f}")
        return costs

    def _save(self, trainer: Any, info: dict, extras: dict, path: Path
              ) -> tuple[Path, str | None]:
        """Save to `path`; if that fails, to a recovery file. (Where it went, the failure.)"""
        from cnnviz.nn import files

        def write(target: Path) -> Path:
            return files.save_model(target, trainer.model, preset=self.preset,
                                    optimizer=trainer.optimizer.state_dict(), info=info,
                                    extras=extras)
        try:
            return write(path), None
        except OSError as error:
            failure = str(error)
        for fallback in (recovery_path(path), Path(tempfile.gettempdir()) /
                         recovery_path(path).name):
            try:
                return write(fallback), f"{failure}; the trained model is kept in {fallback}"
            except OSError:
                continue
        raise CliError(f"{failure}; no recovery file could be written either")

    def _add_test_results(self, trainer: Any, info: dict, costs: list[float],
                          result: Any) -> None:
        """Rewrite the saved file with the test results; the first save stands if this fails."""
        from cnnviz.nn import files

        info = {**info, "test_accuracy": result.accuracy}
        eval_points = [[trainer.step_count, trainer.step_count * trainer.batch_size,
                        self.settings.epochs, result.cost, result.accuracy]]
        try:
            files.save_model(self.saved_to, trainer.model, preset=self.preset,
                             optimizer=trainer.optimizer.state_dict(), info=info,
                             extras={"cost_history": costs, "eval_points": eval_points,
                                     **self.timeline_extras})
        except OSError as error:
            print(f"note: {error}; the model saved before evaluation is kept", file=sys.stderr)
