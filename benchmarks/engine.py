"""Engine throughput: training samples/s at batch 32 and 128, inference samples/s at batch 256.

Trains the reference network (the seed paper's, `PRESETS["reference"]`) on the bundled MNIST
subset with the Trainer, exactly as the app does. With `--compare-torch` (and torch installed:
a benchmark-only dependency, `pip install torch`) the same network is built in PyTorch with
cnnviz's initial weights, both are timed in alternating rounds in one process, and the last line
printed is `ratio_train32=<x> ratio_train128=<x> ratio_infer256=<x>` (cnnviz ÷ PyTorch, medians
of the per-round ratios). Without it the last line is `train32=<x> train128=<x> infer256=<x>`.

    python benchmarks/engine.py --compare-torch --rounds 9 --seconds-per-round 0.7

cnnviz runs as in the app: one BLAS thread (importing cnnviz.nn sets that) in each of its
processes, one per core by default (cnnviz.nn.parallel; `--processes 1` times this process
alone); torch gets two threads.

Other processes skew the figures badly on a small machine (torch's two threads fall to a
hundredth of their speed when a core is busy), so every measurement also records how busy other
processes kept the CPU (Linux); rounds where they used more than a quarter of a core are marked
* and left out of the medians unless every round was.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from cnnviz.data import load_bundled_mnist, normalize_images
from cnnviz.nn import PRESETS, Sequential
from cnnviz.nn.parallel import ProcessPool
from cnnviz.training.trainer import Trainer, TrainSettings, make_optimizer_for

PRESET = PRESETS["reference"]
SEED = 0
METRICS = (("train32", "train", 32), ("train128", "train", 128), ("infer256", "infer", 256))

Step = Callable[[], int]        # runs one batch, returns how many samples it processed
BUSY_NEIGHBOURS = 0.25          # a measurement is contended when others used this many cores

Results = dict[str, dict[str, list[tuple[float, float]]]]   # engine → metric → (rate, busy)


def cnnviz_train_step(model: Sequential, batch_size: int, pool: ProcessPool) -> Step:
    """One Trainer step on the bundled training split (forward, loss, backward, Adam)."""
    train = load_bundled_mnist().train
    trainer = Trainer(model, PRESET, make_optimizer_for(PRESET, TrainSettings()), train,
                      batch_size=batch_size, epochs=10**9, seed=SEED, pool=pool)

    def step() -> int:
        trainer.step()
        return batch_size
    return step


def cnnviz_infer_step(model: Sequential, batch_size: int, pool: ProcessPool) -> Step:
    """Logits for the next `batch_size` test images, cycling through the bundled test split."""
    x = normalize_images(load_bundled_mnist().test.images)
    starts = iter(range(0, 10**12, batch_size))

    def step() -> int:
        start = next(starts) % (len(x) - batch_size)
        pool.forward(model, x[start:start + batch_size])
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


def torch_train_step(model: Sequential, batch_size: int, pool: None = None) -> Step:
    """The same step in PyTorch: shuffled batches, cross-entropy, Adam as the preset says."""
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


def torch_infer_step(model: Sequential, batch_size: int, pool: None = None) -> Step:
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


def others_cpu_seconds() -> float | None:
    """CPU time every other process on the machine has used so far (Linux), else None.

    cnnviz's own helper processes count as this process, not as others."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:9]]
        helpers = 0
        for child in multiprocessing.active_children():
            with open(f"/proc/{child.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            helpers += int(fields[11]) + int(fields[12])      # utime, stime
    except OSError:
        return None
    clock = os.sysconf("SC_CLK_TCK")
    busy = (sum(ticks) - ticks[3] - ticks[4]) / clock             # less idle, iowait
    own = os.times()
    return busy - own.user - own.system - helpers / clock


def measure(step: Step, seconds: float) -> tuple[float, float]:
    """Samples/s of `step` and how many cores other processes kept busy meanwhile (0 if unknown).

    On a shared 2-core machine a busy neighbour wrecks torch's two spinning threads (its rate
    fell from ~7,000 to ~80 samples/s), so such rounds are left out of the ratios.
    """
    before, start = others_cpu_seconds(), time.perf_counter()
    rate = throughput(step, seconds)
    after = others_cpu_seconds()
    busy = 0.0 if before is None or after is None else (after - before)
    return rate, max(0.0, busy / (time.perf_counter() - start))


def make_steps(engine: str, pool: ProcessPool | None) -> dict[str, Step]:
    """One step function per metric, each on its own fresh copy of the seeded reference network."""
    makers = {"cnnviz": (cnnviz_train_step, cnnviz_infer_step),
              "torch": (torch_train_step, torch_infer_step)}[engine]
    steps = {}
    for metric, kind, batch in METRICS:
        maker = makers[0] if kind == "train" else makers[1]
        steps[metric] = maker(PRESET.create(SEED), batch, pool)
    return steps


def torch_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    torch.set_num_threads(2)
    return True


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
                results[engine][metric].append(measure(steps[engine][metric], seconds))
        print(f"round {round_ + 1}: " + "  ".join(
            f"{engine} {metric} {results[engine][metric][-1][0]:,.0f}/s"
            + ("*" if results[engine][metric][-1][1] > BUSY_NEIGHBOURS else "")
            for metric, _, _ in METRICS for engine in engines), flush=True)
    return results


def clean(measurements: list[list[tuple[float, float]]]) -> list[tuple[float, ...]]:
    """The rounds (rates of each engine) no other process disturbed; all of them if none was."""
    rounds = list(zip(*measurements))
    quiet = [r for r in rounds if all(busy <= BUSY_NEIGHBOURS for _, busy in r)]
    return [tuple(rate for rate, _ in r) for r in (quiet or rounds)]


def report(results: Results) -> None:
    """Medians per engine; last line the cnnviz ÷ torch ratios, or cnnviz's own figures."""
    engines = list(results)
    rounds = {metric: clean([results[engine][metric] for engine in engines])
              for metric, _, _ in METRICS}
    for metric, kept in rounds.items():
        total = len(results[engines[0]][metric])
        if len(kept) < total:
            print(f"{metric}: {total - len(kept)} of {total} rounds left out (*: other processes "
                  f"kept > {BUSY_NEIGHBOURS} core busy)")
        elif any(busy > BUSY_NEIGHBOURS for engine in engines
                 for _, busy in results[engine][metric]):
            print(f"WARNING {metric}: other processes disturbed every round; its figures mean "
                  "little (torch's threads are hit hardest)")
    for index, engine in enumerate(engines):
        print(f"{engine:>6} median samples/s: " + "  ".join(
            f"{metric} {statistics.median(r[index] for r in kept):,.0f}"
            for metric, kept in rounds.items()))
    if "torch" in engines:
        ratios = {metric: statistics.median(r[0] / r[1] for r in kept)
                  for metric, kept in rounds.items()}
        print(" ".join(f"ratio_{metric}={ratio:.3f}" for metric, ratio in ratios.items()))
    else:
        print(" ".join(f"{metric}={statistics.median(r[0] for r in kept):.0f}"
                       for metric, kept in rounds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-torch", action="store_true",
                        help="also time PyTorch (CPU, 2 threads); print cnnviz ÷ PyTorch ratios")
    parser.add_argument("--rounds", type=int, default=9,
                        help="alternating timing rounds (default 9)")
    parser.add_argument("--seconds-per-round", type=float, default=0.7,
                        help="seconds each engine runs each metric per round (default 0.7)")
    parser.add_argument("--processes", type=int, default=None,
                        help="cnnviz processes sharing each batch (default: as the app, one "
                             "per core)")
    args = parser.parse_args()

    engines = ["cnnviz"]
    if args.compare_torch:
        if torch_available():
            engines.append("torch")
        else:
            print("torch is not importable: timing cnnviz only (pip install torch to compare)")
    with ProcessPool(args.processes) as pool:
        print(f"load average {os.getloadavg()[0]:.2f}; cnnviz in {pool.processes} "
              f"process{'es' if pool.processes > 1 else ''}", flush=True)
        results = time_rounds({engine: make_steps(engine, pool) for engine in engines},
                              args.rounds, args.seconds_per_round)
        print(f"load average {os.getloadavg()[0]:.2f}")
        if pool.failure:
            print(f"WARNING cnnviz's helper processes failed: {pool.failure}")
        report(results)


if __name__ == "__main__":
    main()
