"""The training loop as plain Python, usable headless and from the GUI's worker. No Qt here."""

from cnnviz.training.trainer import (
                                     Evaluation,
                                     StepResult,
                                     Trainer,
                                     TrainSettings,
                                     evaluate,
                                     make_optimizer_for,
)

__all__ = ["Evaluation", "StepResult", "TrainSettings", "Trainer", "evaluate", "make_optimizer_for"]
