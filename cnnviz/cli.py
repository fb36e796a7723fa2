"""`cnnviz` command line: the GUI by default; train / evaluate / export / predict / data
sub-commands headless."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from tqdm import tqdm

if TYPE_CHECKING:
    from cnnviz.nn.parallel import ProcessPool


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnviz", description="Watch a NumPy CNN learn MNIST and look inside it. "
                                   "With no command, opens the window.")
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a network headless and save it")
    _add_data_option(train)
    train.add_argument("--preset", default="reference", help="network preset (default reference)")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, default=None, help="default: the preset's (32)")
    train.add_argument("--lr", type=float, default=None, help="default: the preset's")
    train.add_argument("--optimizer", choices=["adam", "sgd"], default=None)
    train.add_argument("--init", choices=["paper", "he"], default=None)
    train.add_argument("--train-limit", type=int, default=None, help="use only the first N samples")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, type=Path, help="model file to write (.npz)")
    _add_processes_option(train)

    evaluate = commands.add_parser("evaluate", help="test accuracy of a saved model")
    evaluate.add_argument("model", type=Path)
    _add_data_option(evaluate)
    _add_processes_option(evaluate)

    export = commands.add_parser("export", help="render the views for one sample to PNG files")
    export.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped trained model)")
    export.add_argument("--sample", type=int, default=0, help="sample index (default 0)")
    export.add_argument("--split", choices=["test", "train"], default="test")
    export.add_argument("--target", type=int, default=None,
                        help="class whose gradients to show (default: the true label)")
    export.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    _add_data_option(export)

    predict = commands.add_parser("predict", help="classify a digit image (PNG/JPEG)")
    predict.add_argument("image", type=Path, help="a picture of one digit, either polarity")
    predict.add_argument("--model", type=Path, default=None,
                         help="model file (default: the shipped trained model)")

    data = commands.add_parser("data", help="manage data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    download = data_commands.add_parser("download", help="download the full 60k MNIST")
    download.add_argument("--dest", type=Path, default=None, help="default: the user cache dir")
    data_commands.add_parser("list", help="list the data sets cnnviz can use")
    return parser


def _add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="bundled",
                        help="'bundled' (5k train / 10k test, default), 'full' (after "
                             "`cnnviz data download`) or a folder in MNIST layout")


def _add_processes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=int, default=None,
                        help="processes sharing each batch (default: $CNNVIZ_PROCESSES, else "
                             "one per core, at most 4; 1 = no helper processes)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        from cnnviz.ui.launch import launch_gui     # Qt is imported only for the window
        return launch_gui()
    handlers = {"train": run_train, "evaluate": run_evaluate, "data": run_data,
                "export": run_export, "predict": run_predict}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("cnnviz: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, OSError, RuntimeError) as error:
        # Model, data and download errors are ValueErrors/RuntimeErrors with clear messages.
        print(f"cnnviz: error: {error}", file=sys.stderr)
        return 2


def load_data(spec: str):
    """The data set named on the command line: 'bundled', 'full', or a folder."""
    from cnnviz.data import default_cache_dir, load_bundled_mnist, load_mnist_folder
    if spec == "bundled":
        return load_bundled_mnist()
    folder = default_cache_dir() if spec == "full" else Path(spec)
    if spec == "full" and not folder.is_dir():
        raise CliError("the full MNIST is not downloaded yet; run `cnnviz data download`")
    return load_mnist_folder(folder)


def run_train(args: argparse.Namespace) -> int:
    from cnnviz.nn.parallel import ProcessPool

    with ProcessPool(args.processes) as pool:
        return _train(args, pool)


def _train(args: argparse.Namespace, pool: ProcessPool) -> int:
    from cnnviz.nn import get_preset, save_model
    from cnnviz.training import Trainer, TrainSettings, evaluate

    settings = TrainSettings(preset=args.preset, epochs=args.epochs, batch_size=args.batch_size,
                             lr=args.lr, optimizer=args.optimizer, seed=args.seed,
                             train_limit=args.train_limit, init=args.init)
    preset, data = get_preset(settings.preset), load_data(args.data)
    trainer = Trainer.from_settings(settings, preset, data.train, pool=pool)
    print(f"training {preset.title} on {trainer.train_size:,} samples ({data.source}), "
          f"{settings.epochs} epochs, batch {trainer.batch_size}, "
          f"{trainer.optimizer.kind} lr {trainer.optimizer.lr:g}, "
          f"{pool.processes} process{'es' if pool.processes > 1 else ''}", file=sys.stderr)
    costs, started = [], time.perf_counter()
    with tqdm(total=trainer.total_steps * trainer.batch_size, unit="samples", unit_scale=True,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for result in trainer.run():
            costs.append(result.cost)
            bar.update(trainer.batch_size)
            if result.step % 10 == 0 or trainer.finished:
                bar.set_postfix(epoch=f"{result.epoch_progress:.2f}", cost=f"{result.cost:.4f}")
    elapsed = time.perf_counter() - started
    if pool.failure:
        print(f"note: continued in one process ({pool.failure})", file=sys.stderr)
    result = evaluate(trainer.model, preset, data.test, pool=pool)
    save_model(args.out, trainer.model, preset=preset.name, optimizer=trainer.optimizer.state_dict(),
               info={"settings": vars(settings), "data": data.source, "steps": trainer.step_count,
                     "train_size": trainer.train_size,
                     "test_accuracy": result.accuracy, "train_seconds": round(elapsed, 2)},
               extras={"cost_history": costs,
                       "eval_points": [[trainer.step_count, trainer.step_count * trainer.batch_size,
                                        settings.epochs, result.cost, result.accuracy]]})
    print(f"trained {trainer.step_count} steps in {elapsed:.1f} s "
          f"({trainer.step_count * trainer.batch_size / elapsed:,.0f} samples/s); "
          f"saved {args.out}")
    print(f"test cost: {result.cost:.4f}")
    print(f"test accuracy: {result.accuracy:.4f}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from cnnviz.nn import load_checkpoint, preset_for
    from cnnviz.nn.parallel import ProcessPool
    from cnnviz.training import evaluate

    checkpoint = load_checkpoint(args.model)
    preset = preset_for(checkpoint.preset, checkpoint.model)
    data = load_data(args.data)
    with ProcessPool(args.processes) as pool:
        result = evaluate(checkpoint.model, preset, data.test, pool=pool)
    print(f"test cost: {result.cost:.4f}")
    print(f"test accuracy: {result.accuracy:.4f}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Render every view for one sample headlessly (offscreen Qt), one PNG file per view."""
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnnviz.data import resource_path
    from cnnviz.nn import load_checkpoint, preset_for
    from cnnviz.training.session import TrainingSession
    from cnnviz.training.snapshot import SampleRef
    from cnnviz.ui.panels.inside_panel import export_inside_views
    from cnnviz.ui.render import export_views

    model_path = args.model or resource_path("models", "reference.npz")
    checkpoint = load_checkpoint(model_path)
    session = TrainingSession(load_data(args.data))
    session.load(checkpoint, Path(model_path).name,
                 preset_for(checkpoint.preset, checkpoint.model))
    session.set_sample(SampleRef(args.split, args.sample, target=args.target))
    snapshot = session.snapshot()
    written = export_views(snapshot, args.out, list(snapshot.architecture))
    written += export_inside_views(snapshot, args.out)
    for path in written:
        print(path)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Preprocess an image like a drawn digit and print the model's class probabilities."""
    from cnnviz.data import normalize_images, resource_path
    from cnnviz.data.drawing import load_digit_image
    from cnnviz.nn import load_checkpoint, preset_for

    image = load_digit_image(args.image)
    checkpoint = load_checkpoint(args.model or resource_path("models", "reference.npz"))
    names = preset_for(checkpoint.preset, checkpoint.model).class_names
    probabilities = checkpoint.model.predict_proba(normalize_images(image[None]))[0]
    for name, p in zip(names, probabilities):
        print(f"{name}: {p:.4f}")
    best = int(probabilities.argmax())
    print(f"predicted: {names[best]} p={probabilities[best]:.4f}")
    return 0


def run_data(args: argparse.Namespace) -> int:
    from cnnviz.data import available_datasets, download_full_mnist
    if args.data_command == "download":
        folder = download_full_mnist(args.dest)
        print(f"full MNIST ready in {folder}")
    else:
        for name, folder in available_datasets():
            print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
