"""Engine throughput: training samples/s at batch 32 and 128, inference samples/s at batch 256.

Trains the reference network (the seed paper's, `PRESETS["reference"]`) on the bundled MNIST
subset with the Trainer, exactly as the app does. With `--compare-torch` (and torch installed:
a benchmark-only dependency, `pip install torch`) the same network is built in PyTorch with
cnnviz's initial weights, both are timed in alternating rounds in one process, and the last line
printed is `ratio_train32=<x> ratio_train128=<x> ratio_infer256=<x>` (cnnviz ÷ PyTorch, medians
of the per-round ratios). Without it the last line is `train32=<x> train128=<x> infer256=<x>`.

    python benchmarks/engine.py --compare-torch --rounds 7 --seconds-per-round 1.5

Other processes skew the figures badly on a small machine (torch's two threads fall to a tenth
of their speed when a core is busy), so the load average is printed before and after.
"""

from __future__ import annotations

import os
import sys

if "--compare-torch" in sys.argv:
    # In one process numpy's OpenBLAS threads and torch's OpenMP threads spin against each other
    # (measured: both engines fell to under a tenth of their speed), so numpy gets one BLAS
    # thread; it must be set before numpy loads. cnnviz alone is ~5 % faster with two.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time
from typing import Callable

import numpy as np

from cnnviz.data import load_bundled_mnist, normalize_images
from cnnviz.nn import PRESETS, Sequential
from cnnviz.training.trainer import Trainer, make_optimizer_for, TrainSettings

PRESET = PRESETS["reference"]
SEED = 0
METRICS = (("train32", "train", 32), ("train128", "train", 128), ("infer256", "infer", 256))

Step = Callable[[], int]        # runs one batch, returns how many samples it processed


def cnnviz_train_step(model: Sequential, batch_size: int) -> Step:
    """One Trainer step on the bundled training split (forward, loss, backward, Adam)."""
    train = load_bundled_mnist().train
    trainer = Trainer(model, PRESET, make_optimizer_for(PRESET, TrainSettings()), train,
                      batch_size=batch_size, epochs=10**9, seed=SEED)

    def step() -> int:
        trainer.step()
        return batch_size
    return step


def cnnviz_infer_step(model: Sequential, batch_size: int) -> Step:
    """Logits for the next `batch_size` test images, cycling through the bundled test split."""
    x = normalize_images(load_bundled_mnist().test.images)
    starts = iter(range(0, 10**12, batch_size))

    def step() -> int:
        start = next(starts) % (len(x) - batch_size)
        model.forward(x[start:start + batch_size])
        return batch_size
    return step


def torch_network(model: Sequential):
    """The reference network in PyTorch, holding copies of `model`'s weights."""
    import torch
    from torch import nn
    net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.Conv2d(8, 8, 5), nn.ReLU(),
                        nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 128), nn.ReLU(),
                        nn.Linear(128, 10))
    names = ["conv1", "conv2", "dense1", "dense2"]
    modules = [net[0], net[2], net[6], net[8]]
    with torch.no_grad():
        for name, module in zip(names, modules):
            module.weight.copy_(torch.from_numpy(model.layers[name].params["W"]))
            module.bias.copy_(torch.from_numpy(model.layers[name].params["b"]))
    return net


def torch_train_step(model: Sequential, batch_size: int) -> Step:
    """The same step in PyTorch: shuffled batches, cross-entropy, Adam with the preset's settings."""
    import torch
    net = torch_network(model)
    train = load_bundled_mnist().train
    x = torch.from_numpy(normalize_images(train.images))
    y = torch.from_numpy(train.labels.astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=PRESET.lr, betas=(PRESET.beta1, PRESET.beta2),
                                 eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    state = {"order": torch.randperm(len(x), generator=generator), "at": 0}

    def step() -> int:
        if state["at"] + batch_size > len(x):
            state["order"], state["at"] = torch.randperm(len(x), generator=generator), 0
        index = state["order"][state["at"]:state["at"] + batch_size]
        state["at"] += batch_size
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x[index]), y[index]).backward()
        optimizer.step()
        return batch_size
    return step


def torch_infer_step(model: Sequential, batch_size: int) -> Step:
    import torch
    net = torch_network(model).eval()
    x = torch.from_numpy(normalize_images(load_bundled_mnist().test.images))
    starts = iter(range(0, 10**12, batch_size))

    def step() -> int:
        start = next(starts) % (len(x) - batch_size)
        with torch.inference_mode():
            net(x[start:start + batch_size])
        return batch_size
    return step


def throughput(step: Step, seconds: float) -> float:
    """Samples per second of `step`, run back to back for about `seconds`."""
    samples, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        samples += step()
    return samples / elapsed


def make_steps(engine: str) -> dict[str, Step]:
    """One step function per metric, each on its own fresh copy of the seeded reference network."""
    makers = {"cnnviz": (cnnviz_train_step, cnnviz_infer_step),
              "torch": (torch_train_step, torch_infer_step)}[engine]
    steps = {}
    for metric, kind, batch in METRICS:
        maker = makers[0] if kind == "train" else makers[1]
        steps[metric] = maker(PRESET.create(SEED), batch)
    return steps


def torch_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    torch.set_num_threads(2)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-torch", action="store_true",
                        help="also time PyTorch (CPU, 2 threads); print cnnviz ÷ PyTorch ratios")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating timing rounds (default 5)")
    parser.add_argument("--seconds-per-round", type=float, default=1.0,
                        help="seconds each engine runs each metric per round (default 1.0)")
    args = parser.parse_args()

    engines = ["cnnviz"]
    if args.compare_torch:
        if torch_available():
            engines.append("torch")
        else:
            print("torch is not importable: timing cnnviz only (pip install torch to compare)")
    print(f"load average {os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}", flush=True)
    results = time_rounds({engine: make_steps(engine) for engine in engines}, args.rounds,
                          args.seconds_per_round)
    print(f"load average {os.getloadavg()[0]:.2f}")
    report(results)


Results = dict[str, dict[str, list[float]]]       # engine → metric → samples/s of each round


def time_rounds(steps: dict[str, dict[str, Step]], rounds: int, seconds: float) -> Results:
    """Samples/s of every engine and metric, round after round, engines alternating first."""
    for engine_steps in steps.values():          # warm up: caches, buffers, thread pools
        for step in engine_steps.values():
            throughput(step, min(0.3, seconds))
    engines = list(steps)
    results: Results = {engine: {metric: [] for metric, _, _ in METRICS} for engine in engines}
    for round_ in range(rounds):
        order = engines if round_ % 2 == 0 else engines[::-1]
        for metric, _, _ in METRICS:
            for engine in order:
                results[engine][metric].append(throughput(steps[engine][metric], seconds))
        print(f"round {round_ + 1}: " + "  ".join(
            f"{engine} {metric} {results[engine][metric][-1]:,.0f}/s"
            for metric, _, _ in METRICS for engine in engines), flush=True)
    return results


def report(results: Results) -> None:
    """Medians per engine; last line the cnnviz ÷ torch ratios, or cnnviz's own figures."""
    for engine, by_metric in results.items():
        print(f"{engine:>6} median samples/s: " + "  ".join(
            f"{metric} {statistics.median(values):,.0f}" for metric, values in by_metric.items()))
    if "torch" in results:
        ratios = {metric: statistics.median(a / b for a, b in zip(results["cnnviz"][metric],
                                                                     results["torch"][metric]))
                  for metric, _, _ in METRICS}
        print(" ".join(f"ratio_{metric}={ratio:.3f}" for metric, ratio in ratios.items()))
    else:
        print(" ".join(f"{metric}={statistics.median(values):.0f}"
                       for metric, values in results["cnnviz"].items()))


if __name__ == "__main__":
    main()
