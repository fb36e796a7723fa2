"""The metadata of a model file, field by field: each one typed and bounded, or dropped.

A model file's header is JSON that anyone can edit. Whatever `load_checkpoint` hands on must be
trustworthy, so every field is checked here: the required ones (architecture, parameters,
optimizer state) make a bad file a ModelFileError; an optional one that is malformed (`info`,
its `settings`, a cost history) is dropped with a note in `Checkpoint.warnings`, because the
weights it came with are still good. Extras arrays are bounded in rows so that no file can make
cnnviz allocate gigabytes for a cost curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnviz.nn.optim import OPTIMIZER_TYPES
from cnnviz.nn.scaling import scaling_from_list

MAX_EXTRA_ROWS = 1_000_000      # ~530 epochs of full MNIST at batch 32: far beyond a real run
MAX_EXTRA_COLUMNS = 1_024        # one per parameter array of the largest network cnnviz builds
MAX_TEXT = 1_000                # characters of a free-text field (a label, a data source)
MAX_COUNT = 10 ** 12            # steps, samples: no run comes near

# Extras cnnviz itself writes, with the columns each must have (None: a 1-D array).
KNOWN_EXTRAS: dict[str, int | None] = {"cost_history": None, "cost_points": 4, "eval_points": 5,
                                       "grad_steps": 2, "divergence_points": 4}


class FieldError(ValueError):
    """One field is malformed; the message names it and quotes the value."""


def _int(low: int, high: int = MAX_COUNT) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and low <= v <= high


def _float(low: float, high: float = math.inf, *, open_low: bool = False
           ) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not _is_number(value) or not math.isfinite(value):
            return False
        return (low < value if open_low else low <= value) and value <= high
    return check


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


# What cnnviz writes into `info` and `info["settings"]` (TrainSettings' fields), and the values
# each may take. Unknown keys are kept only when they hold a plain scalar.
INFO_FIELDS: dict[str, Callable[[Any], bool]] = {
    "steps": _int(0), "train_size": _int(0), "test_accuracy": _float(0.0, 1.0),
    "train_seconds": _float(0.0), "label": _text, "data": _text,
    "clean_exit": lambda v: isinstance(v, bool),
    # [mean, std] of the network's input scaling (cnnviz.nn.scaling); absent: cnnviz's own.
    "input_scaling": lambda v: scaling_from_list(v) is not None,
}
SETTINGS_FIELDS: dict[str, Callable[[Any], bool]] = {
    "preset": _text, "epochs": _int(1), "batch_size": _optional(_int(1)),
    "lr": _optional(_float(0.0, open_low=True)), "optimizer": _optional(_text),
    "momentum": _float(0.0, 1.0), "seed": _int(0), "train_limit": _optional(_int(1)),
    "init": _optional(_text),
}


def clean_info(info: Any, warnings: list[str]) -> dict[str, Any]:
    """`info` with every malformed field dropped (and named in `warnings`)."""
    if info is None:
        return {}
    if not isinstance(info, dict):
        warnings.append(f"ignored 'info': expected a dict, got {_quote(info)}")
        return {}
    cleaned = _clean_fields("info", {k: v for k, v in info.items() if k != "settings"},
                            INFO_FIELDS, warnings)
    if "settings" in info:
        settings = info["settings"]
        if isinstance(settings, dict):
            cleaned["settings"] = _clean_fields("info.settings", settings, SETTINGS_FIELDS,
                                                warnings)
        else:
            warnings.append(f"ignored 'info.settings': expected a dict, got {_quote(settings)}")
    return cleaned


def _clean_fields(where: str, fields: dict[str, Any], checks: dict[str, Callable[[Any], bool]],
                  warnings: list[str]) -> dict[str, Any]:
    cleaned = {}
    for key, value in fields.items():
        check = checks.get(key, _plain_scalar)
        if isinstance(key, str) and len(key) <= MAX_TEXT and check(value):
            cleaned[key] = value
        else:
            warnings.append(f"ignored '{where}.{key:.60}': unexpected value {_quote(value)}")
    return cleaned


def _plain_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool) or _text(value) or (
        _is_number(value) and math.isfinite(value))


def clean_preset(preset: Any, known: set[str], warnings: list[str]) -> str | None:
    """The preset name if it is one cnnviz knows; None (and a warning) otherwise."""
    if preset is None or (isinstance(preset, str) and preset in known):
        return preset
    warnings.append(f"ignored 'preset': {_quote(preset)} is not one of {sorted(known)}")
    return None


def check_optimizer_header(header: Any) -> dict[str, Any]:
    """{'kind', 'config', 't'} of a saved optimizer, each checked; raises FieldError."""
    if not isinstance(header, dict):
        raise FieldError(f"'optimizer' must be a dict, got {_quote(header)}")
    kind, config, t = header.get("kind"), header.get("config"), header.get("t")
    if kind not in OPTIMIZER_TYPES:
        raise FieldError(f"'optimizer.kind' must be one of {sorted(OPTIMIZER_TYPES)}, "
                         f"got {_quote(kind)}")
    if not isinstance(config, dict) or not all(
            isinstance(k, str) and _is_number(v) for k, v in config.items()):
        raise FieldError(f"'optimizer.config' must map names to numbers, got {_quote(config)}")
    try:
        OPTIMIZER_TYPES[kind](**config)          # its own checks: finite lr, betas in [0, 1)
    except (TypeError, ValueError) as error:
        raise FieldError(f"'optimizer.config' {_quote(config)}: {error}") from None
    if not _int(0)(t):
        raise FieldError(f"'optimizer.t' must be a step count ≥ 0, got {_quote(t)}")
    return {"kind": kind, "config": dict(config), "t": int(t)}


def extra_shape_problem(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Why an extras array of this name, shape and dtype is not kept (None: it is kept).

    Decided from the array's header alone, so an oversized one is never read.
    """
    if dtype.kind not in "biuf":
        return f"dtype {dtype} is not numeric"
    columns = KNOWN_EXTRAS.get(name, "any")
    if len(shape) > 2 or (columns is None and len(shape) != 1) or (
            isinstance(columns, int) and (len(shape) != 2 or shape[1] != columns)):
        wanted = {None: "(N,)", "any": "1-D or 2-D"}.get(columns, f"(N, {columns})")
        return f"shape {shape} is not {wanted}"
    if shape and shape[0] > MAX_EXTRA_ROWS:
        return f"{shape[0]:,} rows, more than the {MAX_EXTRA_ROWS:,} cnnviz reads"
    if len(shape) == 2 and shape[1] > MAX_EXTRA_COLUMNS:
        return f"{shape[1]} columns, more than {MAX_EXTRA_COLUMNS}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
