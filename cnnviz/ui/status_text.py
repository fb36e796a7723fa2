"""What the status bar says about training: where the run stands, or what Train will do."""

from __future__ import annotations

from cnnviz.training.app_state import RunState
from cnnviz.training.snapshot import Progress

PROGRESS_TIP = "Epoch, step, training speed and time left for this run"


def describe_progress(p: Progress, trained_steps: int) -> str:
    """One line: "epoch 2/3 · step 311/471 · 5,840 samples/s · ETA 0:07" while a run is under
    way; before its first step, what Train will do — on a network that has trained already
    (`trained_steps` > 0, e.g. the shipped model) that is more training, not step 0 of it."""
    if p.step == 0 and p.state is not RunState.TRAINING:
        epochs = f"{p.epochs} epoch{'s' if p.epochs != 1 else ''}"
        more = f" more (after {trained_steps:,} trained)" if trained_steps else ""
        return f"Train runs {epochs} · {p.total_steps:,} steps{more}"
    rate = f"{p.samples_per_second:,.0f} samples/s" if p.samples_per_second else ""
    if rate and (p.processes > 1 or p.helpers_failed):
        rate += f" on {p.processes} processes" if p.processes > 1 else " on 1 process"
    eta = f"ETA {int(p.eta_seconds) // 60}:{int(p.eta_seconds) % 60:02d}" \
        if p.eta_seconds is not None and p.state is RunState.TRAINING else ""
    return " · ".join(filter(None, [f"epoch {p.epoch + 1}/{p.epochs}",
                                    f"step {p.step}/{p.total_steps}", rate, eta]))


def progress_tip(p: Progress) -> str:
    """The tooltip: what the line means, and how the batches are shared between processes."""
    return "\n".join(filter(None, [
        PROGRESS_TIP,
        f"Helper processes stopped ({p.helpers_failed}); training goes on in this "
        "process alone, more slowly." if p.helpers_failed else
        f"Each batch is shared by {p.processes} processes, one per core "
        "(the CNNVIZ_PROCESSES variable sets how many)." if p.processes > 1 else ""]))
