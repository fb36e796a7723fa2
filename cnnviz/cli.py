"""`cnnviz` command line: the GUI by default; train / evaluate / export / predict / data
sub-commands headless."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cnnviz import __version__
from cnnviz.cli_train import CliError, CliInterrupted, TrainCommand, run_with_pool

MAX_SEED = 2 ** 32 - 1           # what every NumPy generator accepts


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], with a one-line error otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"≥ {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value
    return parse


def _input_scaling(text: str) -> Any:
    from cnnviz.nn.scaling import parse_scaling
    try:
        return parse_scaling(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more, no usage block."""

    def error(self, message: str) -> None:      # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cnnviz", description="Watch a NumPy CNN learn MNIST and look inside it. "
                                   "With no command, opens the window.")
    parser.add_argument("--version", action="version", version=f"cnnviz {__version__}")
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a network headless and save it")
    _add_data_option(train)
    train.add_argument("--preset", default="reference", help="network preset (default reference)")
    train.add_argument("--arch", type=Path, default=None, metavar="FILE.json",
                       help="train your own network from an architecture file instead of a preset")
    train.add_argument("--epochs", type=_integer(1, 100_000), default=3)
    train.add_argument("--batch-size", type=_integer(1, 65_536), default=None,
                       help="default: the preset's (32)")
    train.add_argument("--lr", type=_positive_number, default=None, help="default: the preset's")
    train.add_argument("--optimizer", choices=["adam", "sgd"], default=None)
    train.add_argument("--init", choices=["paper", "he"], default=None)
    train.add_argument("--train-limit", type=_integer(1), default=None,
                       help="use only N samples (a seeded random subset)")
    train.add_argument("--seed", type=_integer(0, MAX_SEED), default=0)
    train.add_argument("--out", required=True, type=Path, help="model file to write (.npz)")
    _add_processes_option(train)

    evaluate = commands.add_parser("evaluate", help="test accuracy of a saved model")
    evaluate.add_argument("model", type=Path, help="model file (.npz, or .onnx from elsewhere)")
    _add_input_scaling_option(evaluate)
    _add_data_option(evaluate)
    _add_processes_option(evaluate)

    export = commands.add_parser("export", help="render the views for one sample to PNG files")
    export.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped trained model)")
    export.add_argument("--sample", type=_integer(0), default=0, help="sample index (default 0)")
    export.add_argument("--split", choices=["test", "train"], default="test")
    export.add_argument("--target", type=_integer(0), default=None,
                        help="class whose gradients to show (default: the true label)")
    export.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    export.add_argument("--step", type=_integer(0), default=None,
                        help="the network as after training step K of its recorded run (0: "
                             "before training; default: the final network)")
    _add_occlusion_options(export)
    _add_input_scaling_option(export)
    _add_data_option(export)

    predict = commands.add_parser(
        "predict", help="classify a digit image (PNG, JPEG, TIFF, BMP, GIF, WEBP)")
    predict.add_argument("image", type=Path, help="a picture of one digit, either polarity")
    predict.add_argument("--model", type=Path, default=None,
                         help="model file (default: the shipped trained model)")
    predict.add_argument("--occlusion", type=Path, default=None, metavar="DIR",
                         help="also write the occlusion map for the predicted class to DIR "
                              "(occlusion.png, occlusion.npz)")
    _add_occlusion_options(predict)
    _add_input_scaling_option(predict)

    export_onnx = commands.add_parser("export-onnx", help="write a model as ONNX (onnx package)")
    export_onnx.add_argument("model", type=Path, help="model file (.npz or .onnx)")
    export_onnx.add_argument("out", type=Path, help="ONNX file to write")
    _add_input_scaling_option(export_onnx)

    data = commands.add_parser("data", help="manage data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    download = data_commands.add_parser("download", help="download the full 60k MNIST")
    download.add_argument("--dest", type=Path, default=None, help="default: the user cache dir")
    data_commands.add_parser("list", help="list the data sets cnnviz can use")
    return parser


def _add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="bundled",
                        help="'bundled' (5k train / 10k test, default), 'full' (after "
                             "`cnnviz data download`), a folder in MNIST layout, or an image "
                             "folder: one sub-folder of images per class (optionally under "
                             "train/ and test/)")
    parser.add_argument("--image-size", type=_integer(16, 64), default=None, metavar="SIDE",
                        help="an image folder's images are fitted to SIDE×SIDE pixels, "
                             "keeping their aspect (default: their most common size)")


def _add_occlusion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patch", type=_integer(1, 28), default=6,
                        help="occlusion map: side of the grey patch in pixels (default 6)")
    parser.add_argument("--stride", type=_integer(1, 28), default=2,
                        help="occlusion map: pixels between patch positions (default 2)")
def _add_input_scaling_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-scaling", type=_input_scaling, default=None,
                        metavar="mnist|unit|MEAN,STD",
                        help="how the network expects pixels scaled: (x/255 − MEAN)/STD; "
                             "'mnist' is 0.1307,0.3081, 'unit' is 0,1 (default: what the model "
                             "file or ONNX metadata says, else mnist)")


def _add_processes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=_integer(1, 64), default=None,
                        help="processes sharing each batch (default: $CNNVIZ_PROCESSES, else "
                             "one per core, at most 4; 1 = no helper processes)")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:                 # --help, or a bad argument already reported
        return int(done.code or 0)
    if args.command is None:
        from cnnviz.ui.launch import launch_gui  # Qt is imported only for the window
        return launch_gui()
    handlers = {"train": run_train, "evaluate": run_evaluate, "data": run_data,
                "export": run_export, "predict": run_predict, "export-onnx": run_export_onnx}
    try:
        return handlers[args.command](args)
    except CliInterrupted as interrupted:
        print(f"cnnviz: {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cnnviz: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, OSError, RuntimeError) as error:
        # Model, data and download errors are ValueErrors/RuntimeErrors with clear messages.
        print(f"cnnviz: error: {error}", file=sys.stderr)
        return 2


def load_data(spec: str, image_size: int | None = None):
    """The data set named on the command line: 'bundled', 'full', or a folder (IDX files or
    an image folder, whose images are fitted to `image_size`)."""
    from cnnviz.data import default_cache_dir, load_bundled_mnist, load_data_folder
    if spec == "bundled":
        return load_bundled_mnist()
    folder = default_cache_dir() if spec == "full" else Path(spec)
    if spec == "full" and not folder.is_dir():
        raise CliError("the full MNIST is not downloaded yet; run `cnnviz data download`")
    data = load_data_folder(folder, size=image_size)
    if data.skipped:
        print(f"note: {len(data.skipped)} unreadable file(s) skipped in {folder}, first: "
              f"{data.skipped[0]}", file=sys.stderr)
    return data


def run_train(args: argparse.Namespace) -> int:
    """Train headless; every check that could fail at the end runs before the first step."""
    command = TrainCommand(args, load_data(args.data, args.image_size))
    return run_with_pool(args.processes, command, command.describe_interrupt)


def _load_checkpoint(path: Path | str, input_scaling: Any = None) -> Any:
    """A model file (.npz or .onnx), with a note on stderr for each malformed optional field it
    dropped (or, for ONNX, each liberty taken); `input_scaling` overrides the file's."""
    from cnnviz.nn.model_files import read_model_file

    checkpoint = read_model_file(path, input_scaling)
    for warning in checkpoint.warnings:
        print(f"note: {path}: {warning}", file=sys.stderr)
    return checkpoint


def run_evaluate(args: argparse.Namespace) -> int:
    from cnnviz.nn.files import checkpoint_preset
    from cnnviz.training import evaluate
    from cnnviz.training.data_checks import check_data_fits

    checkpoint = _load_checkpoint(args.model, args.input_scaling)
    preset = checkpoint_preset(checkpoint)
    data = load_data(args.data, args.image_size)
    check_data_fits(data, checkpoint.model, preset)
    result = run_with_pool(args.processes,
                           lambda pool: evaluate(checkpoint.model, preset, data.test, pool=pool),
                           lambda: "interrupted while evaluating")
    print(f"test cost: {result.cost:.4f}")
    print(f"test accuracy: {result.accuracy:.4f}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Render every view for one sample headlessly (offscreen Qt), one PNG file per view."""
    import os
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnnviz.data import resource_path
    from cnnviz.nn.files import checkpoint_preset
    from cnnviz.training.data_checks import check_data_fits
    from cnnviz.training.session import TrainingSession
    from cnnviz.training.snapshot import SampleRef
    from cnnviz.ui.panels.inside_panel import export_inside_views
    from cnnviz.ui.render import export_views

    model_path = args.model or resource_path("models", "reference.npz")
    checkpoint = _load_checkpoint(model_path, args.input_scaling)
    preset = checkpoint_preset(checkpoint)
    classes = len(preset.class_names)
    if args.target is not None and args.target >= classes:
        raise CliError(f"--target {args.target} is not a class of the {preset.name!r} network; "
                       f"choose 0..{classes - 1} ({', '.join(preset.class_names)})")
    data = load_data(args.data, args.image_size)
    check_data_fits(data, checkpoint.model, preset, need_test=args.split == "test")
    session = TrainingSession(data)
    session.load(checkpoint, Path(model_path).name, preset)
    session.set_sample(SampleRef(args.split, args.sample, target=args.target))
    snapshot = session.snapshot() if args.step is None else _snapshot_at_step(session, args)
    written = export_views(snapshot, args.out, list(snapshot.architecture))
    written += export_inside_views(snapshot, args.out)
    written += _export_units(session, snapshot, args.out)
    target = snapshot.sample.target if snapshot.sample.target is not None else (
        snapshot.label if snapshot.label is not None else snapshot.prediction)
    written += write_occlusion(checkpoint.model, snapshot.sample_image, target, args,
                               args.out, preset.class_names, snapshot.trace.input_grad[0, 0])
    for path in written:
        print(path)
    return 0


def _snapshot_at_step(session: Any, args: argparse.Namespace) -> Any:
    """The session's network at `--step`, refused with the steps the file can show."""
    view = session.timeline.view()
    if not view.first_step <= args.step <= view.last_step:
        where = args.model or "the shipped model"
        raise CliError(f"--step {args.step} is not in the run recorded in {where}: it can show "
                       f"steps {view.first_step}..{view.last_step}")
    snapshot = session.snapshot_at(args.step)
    if snapshot.shown_step != args.step:
        print(f"note: the model was trained on other data than {args.data!r}; showing step "
              f"{snapshot.shown_step}, the nearest recorded one before {args.step}",
              file=sys.stderr)
    return snapshot


def _export_units(session, snapshot, out: Path) -> list[Path]:
    """The Units tab's pictures: card-conv1-<k>.png per conv1 filter and embedding.png."""
    from cnnviz.training import units
    from cnnviz.training.preferred_input import preferred_input
    from cnnviz.ui.panels.units_panel import export_unit_views
    from cnnviz.ui.units_jobs import UnitsResult

    model, test = session.trainer.model, session.data.test
    if len(test) == 0 or "conv1" not in model.layers:
        return []
    scanned = units.scan(model, test, session.preset.label_classes(test.labels))
    result = UnitsResult(scanned, units.embedding(scanned), session.live_step,
                         session.model_label)
    preferred = {("conv1", k): preferred_input(model, "conv1", k)
                 for k in range(model.layer_shapes()["conv1"][0])}
    return export_unit_views(snapshot, result, preferred, test.images, out)


def run_predict(args: argparse.Namespace) -> int:
    """Preprocess an image like a drawn digit and print the model's class probabilities."""
    import os

    import numpy as np

    from cnnviz.data import resource_path
    from cnnviz.data.drawing import load_digit_image
    from cnnviz.nn.files import checkpoint_preset
    from cnnviz.training.trainer import model_inputs

    image = load_digit_image(args.image)
    checkpoint = _load_checkpoint(args.model or resource_path("models", "reference.npz"),
                                  args.input_scaling)
    names = checkpoint_preset(checkpoint).class_names
    probabilities = checkpoint.model.predict_proba(model_inputs(checkpoint.model,
                                                                image[None]))[0]
    for name, p in zip(names, probabilities):
        print(f"{name}: {p:.4f}")
    best = int(probabilities.argmax())
    print(f"predicted: {names[best]} p={probabilities[best]:.4f}")
    if args.occlusion is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from cnnviz.nn import capture
        preset = checkpoint_preset(checkpoint)
        trace = capture(checkpoint.model, preset.make_loss(),
                        model_inputs(checkpoint.model, image[None]),
                        preset.class_targets(np.array([best])))
        for path in write_occlusion(checkpoint.model, image, best, args, args.occlusion, names,
                                    trace.input_grad[0, 0]):
            print(path)
    return 0


def write_occlusion(model, image, target: int, args: argparse.Namespace, out_dir: Path,
                    names: tuple[str, ...], saliency) -> list[Path]:
    """The occlusion map of `image` for class `target`: occlusion.png (the Experiment tab's
    view: input, map, saliency, the patch at the largest drop) and occlusion.npz (the numbers:
    drops (R, C), rows, cols, patch, stride, fill, target, probability)."""
    import numpy as np

    from cnnviz.training.probes import occlusion_map
    from cnnviz.ui.panels.occlusion_view import export_occlusion

    occlusion = occlusion_map(model, image, target, args.patch, args.stride)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    numbers = out / "occlusion.npz"
    np.savez(numbers, drops=occlusion.drops, rows=occlusion.rows, cols=occlusion.cols,
             patch=occlusion.patch, stride=occlusion.stride, fill=occlusion.fill,
             target=occlusion.target, probability=occlusion.probability)
    return [export_occlusion(occlusion, saliency, out / "occlusion.png", names), numbers]
def run_export_onnx(args: argparse.Namespace) -> int:
    """Write a model file as ONNX, its input scaling in the metadata; checked by onnx.checker."""
    from cnnviz.nn.onnx_export import export_onnx

    checkpoint = _load_checkpoint(args.model, args.input_scaling)
    written = export_onnx(checkpoint.model, args.out)
    print(f"{written} (inputs scaled {checkpoint.model.input_scaling.describe()})")
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
