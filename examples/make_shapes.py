"""Make a small RGB image-folder data set: coloured circles, squares and triangles.

    python examples/make_shapes.py OUT_DIR [--per-class 300] [--size 32] [--seed 0]

writes OUT_DIR/<shape>/<n>.png: each a shape of random colour, size and place on a background
of another random colour, with a little noise. Colour alone says nothing about the class, so a
network has to learn the shapes. Open OUT_DIR with File → Open data folder, or train on it with
`cnnviz train --data OUT_DIR` (a network taking 3×SIZE×SIZE inputs and 3 classes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _distinct(rng: np.random.Generator, other: tuple[int, int, int]) -> tuple[int, int, int]:
    """A colour at least a little way from `other`, so every shape is visible."""
    while True:
        colour = _colour(rng)
        if sum(abs(a - b) for a, b in zip(colour, other)) > 180:
            return colour


def draw_shape(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (size, size, 3): one `shape` ('circle', 'square', 'triangle') on a background."""
    background = _colour(rng)
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(radius + 1, size - radius - 1, 2)
    fill = _distinct(rng, background)
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
    elif shape == "square":
        half = radius * 0.85
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], fill=fill)
    else:
        turn = rng.uniform(0, 2 * np.pi)
        angles = turn + np.array([0, 2, 4]) * np.pi / 3
        draw.polygon([(cx + radius * np.cos(a), cy + radius * np.sin(a)) for a in angles],
                     fill=fill)
    pixels = np.asarray(image, np.int16) + rng.integers(-12, 13, (size, size, 3))
    return pixels.clip(0, 255).astype(np.uint8)


def make_shapes(folder: str | Path, per_class: int = 300, size: int = 32, seed: int = 0) -> Path:
    """Write `per_class` PNGs of each shape under folder/<shape>/; returns the folder."""
    folder, rng = Path(folder), np.random.default_rng(seed)
    for shape in SHAPES:
        (folder / shape).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            Image.fromarray(draw_shape(shape, size, rng)).save(folder / shape / f"{n:04d}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_shapes(args.out, args.per_class, args.size, args.seed)
    print(f"wrote {args.per_class * len(SHAPES)} images of {args.size}×{args.size} to {args.out}")


if __name__ == "__main__":
    main()
