"""The timeline in a model file: a few keyframes and what replaying between them needs.

Stored as `extras` arrays (numeric, at most 16 columns; see cnnviz.nn.file_fields), within
`FILE_BUDGET_BYTES` of keyframe values whatever the run's length: every pinned keyframe and as
many grid keyframes as fit, evenly spaced. Opening the file replays from them (and fills in
keyframes where the user looks). A timeline that does not fit the network, or is malformed in
any way, is dropped: the model still opens, its timeline starting where the file left off.
A file whose run trained on other data than the session's keeps only its keyframes' steps.
"""

from __future__ import annotations

import logging

import numpy as np

from cnnviz.nn import Sequential
from cnnviz.training.timeline import (
    BUDGET_BYTES,
    MAX_KEYFRAMES,
    Keyframe,
    Segment,
    Timeline,
    _Changes,
)
from cnnviz.training.trainer import TrainerPosition, TrainSettings

log = logging.getLogger(__name__)

FILE_BUDGET_BYTES = 8 << 20
VERSION = 1
COLUMNS = 16                   # values are stored (rows, 16): extras hold at most 16 columns
SLOT_KINDS = {"Adam": ("m", "v"), "SGD": ("velocity",)}
OPTIMIZER_CODES = {None: 0, "adam": 1, "sgd": 2}
INIT_CODES = {None: 0, "paper": 1, "he": 2}
_MASK = (1 << 64) - 1


def timeline_arrays(timeline: Timeline) -> dict[str, np.ndarray]:
    """The timeline as `extras` arrays (empty when nothing is recorded)."""
    if not timeline.keyframes:
        return {}
    kept = _chosen(timeline.keyframes)
    dtype = next(iter(kept[0].params.values())).dtype
    index, values, rngs, offset = [], [], [], 0
    for k in kept:
        slots = k.optimizer.get("slots") or {}
        kinds = SLOT_KINDS.get(k.optimizer.get("kind"), ())
        kinds = kinds if all(kind in slots for kind in kinds) and slots else ()
        arrays = [k.params[n] for n in k.params]
        arrays += [slots[kind].get(n, np.zeros_like(k.params[n])) for kind in kinds
                   for n in k.params]
        flat = np.concatenate([a.ravel() for a in arrays]).astype(dtype)
        index.append([k.step, k.segment, k.position.step_count, k.pinned,
                      k.optimizer.get("t", 0), len(kinds), offset, 0])
        values.append(flat)
        offset += flat.size
        rngs.append(_rng_row(k.position.order_rng_state))
    flat = np.concatenate(values)
    flat = np.concatenate([flat, np.zeros(-len(flat) % COLUMNS, dtype)]).reshape(-1, COLUMNS)
    return {
        "timeline_info": np.array([[VERSION, timeline.last_step, timeline.interval,
                                    timeline.exact, len(timeline.train)]], np.float64),
        "timeline_data": np.array([timeline.fingerprint], np.uint64),
        "timeline_keyframes": np.array(index, np.float64),
        "timeline_values": flat,
        "timeline_rng": np.array(rngs, np.uint64),
        "timeline_segments": np.array([_segment_row(s) for s in timeline.segments], np.float64),
        "timeline_changes": np.array(timeline.changes.rows, np.float64).reshape(-1, 3),
    }


def _chosen(keyframes: list[Keyframe]) -> list[Keyframe]:
    """Every pinned keyframe and evenly spaced others, within FILE_BUDGET_BYTES."""
    pinned = [k for k in keyframes if k.pinned]
    others = [k for k in keyframes if not k.pinned]
    budget = FILE_BUDGET_BYTES - sum(k.nbytes for k in pinned)
    while others and sum(k.nbytes for k in others) > budget:
        others = others[1::2] if len(others) > 1 else []
    return sorted(pinned + others, key=lambda k: k.step) or keyframes[:1]


def load_timeline(timeline: Timeline, extras: dict[str, np.ndarray], model: Sequential) -> bool:
    """Fill an empty `timeline` from a model file's extras; False (and empty) if it has none
    or it does not fit `model`."""
    if "timeline_keyframes" not in extras:
        return False
    try:
        _load(timeline, extras, model)
    except (KeyError, ValueError, IndexError, TypeError, OverflowError) as error:
        log.warning("the model file's timeline is not usable and is left out: %s", error)
        timeline.clear()
        return False
    return True


def _load(timeline: Timeline, extras: dict[str, np.ndarray], model: Sequential) -> None:
    info = extras["timeline_info"].reshape(-1)
    if int(info[0]) != VERSION:
        raise ValueError(f"timeline version {info[0]!r} is not {VERSION}")
    segments = [_segment(row) for row in extras["timeline_segments"]]
    index, rngs = extras["timeline_keyframes"], extras["timeline_rng"]
    values = extras["timeline_values"].reshape(-1)
    names = [(n, v.shape, v.dtype) for n, v in model.named_parameters()]
    size = sum(int(np.prod(shape)) for _, shape, _ in names)
    if len(index) != len(rngs) or not len(index) or not segments:
        raise ValueError("keyframe tables of different lengths")
    keyframes = []
    for row, rng in zip(index, rngs):
        step, seg, trainer_step, pinned, t, kinds, offset = (int(v) for v in row[:7])
        if not 0 <= seg < len(segments) or kinds not in (0, 1, 2) or offset < 0 \
                or offset + size * (1 + kinds) > len(values):
            raise ValueError(f"keyframe at step {step} does not fit the stored values")
        chunks, at = [], offset
        for _ in range(1 + kinds):
            part = {}
            for name, shape, dtype in names:
                count = int(np.prod(shape))
                part[name] = values[at:at + count].reshape(shape).astype(dtype)
                at += count
            chunks.append(part)
        kind = _optimizer_kind(segments[seg].settings, timeline)
        slot_names = SLOT_KINDS[kind] if kinds else ()
        if kinds and len(slot_names) != kinds:
            raise ValueError(f"keyframe at step {step} has {kinds} slots, {kind} has "
                             f"{len(slot_names)}")
        optimizer = {"kind": kind, "config": {}, "t": t,
                     "slots": dict(zip(slot_names, chunks[1:]))}
        keyframes.append(Keyframe(step, seg, chunks[0], optimizer,
                                  TrainerPosition(trainer_step, _rng_state(rng)), bool(pinned)))
    timeline.clear()
    timeline.segments = segments
    timeline.keyframes = sorted(keyframes, key=lambda k: k.step)
    timeline.changes = _Changes([(int(s), float(lr), int(n))
                                 for s, lr, n in extras["timeline_changes"]])
    timeline.last_step = int(info[1])
    timeline.exact = bool(info[3]) and int(extras["timeline_data"][0]) == timeline.fingerprint
    timeline.adopt_network(model)
    # A grid as fine as the memory budget allows, so replays fill in keyframes as they pass.
    per_keyframe = max(1, size * 3 * values.dtype.itemsize)
    room = max(2, min(MAX_KEYFRAMES, BUDGET_BYTES // per_keyframe))
    span = max(1, timeline.last_step - timeline.first_step)
    timeline.interval = 1 << max(0, (-(-span // room) - 1).bit_length())


def _optimizer_kind(settings: TrainSettings, timeline: Timeline) -> str:
    chosen = settings.optimizer or timeline.preset.optimizer
    return "Adam" if chosen.lower() == "adam" else "SGD"


def _segment_row(segment: Segment) -> list[float]:
    s = segment.settings
    return [segment.first_step, segment.first_epoch, s.epochs, s.batch_size or 0, s.lr or 0,
            s.momentum, s.seed, s.train_limit or 0, OPTIMIZER_CODES[s.optimizer],
            INIT_CODES[s.init], segment.batches_per_epoch]


def _segment(row: np.ndarray) -> Segment:
    first, epoch, epochs, batch, lr, momentum, seed, limit, opt, init, per_epoch = row[:11]
    decode = {v: k for k, v in OPTIMIZER_CODES.items()}, {v: k for k, v in INIT_CODES.items()}
    settings = TrainSettings(epochs=int(epochs), batch_size=int(batch) or None,
                             lr=float(lr) or None, optimizer=decode[0][int(opt)],
                             momentum=float(momentum), seed=int(seed),
                             train_limit=int(limit) or None, init=decode[1][int(init)])
    if int(per_epoch) < 1:
        raise ValueError(f"a run segment with {per_epoch} batches an epoch")
    return Segment(int(first), float(epoch), settings, int(per_epoch))


def _rng_row(state: dict) -> list[int]:
    if state.get("bit_generator") != "PCG64":
        raise ValueError(f"cannot store a {state.get('bit_generator')!r} generator")
    inner = state["state"]
    return [inner["state"] >> 64, inner["state"] & _MASK, inner["inc"] >> 64,
            inner["inc"] & _MASK, state["has_uint32"], state["uinteger"]]


def _rng_state(row: np.ndarray) -> dict:
    a, b, c, d, has, value = (int(v) for v in row[:6])
    return {"bit_generator": "PCG64", "state": {"state": a << 64 | b, "inc": c << 64 | d},
            "has_uint32": has, "uinteger": value}
