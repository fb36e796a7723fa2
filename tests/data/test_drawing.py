"""Drawn and loaded digits are made to look like MNIST's: 20×20 box, centre of mass in the middle.

"The middle" is MNIST's own: in index coordinates (pixel (r, c) at (r, c)), every MNIST test
digit has its centre of mass within 0.5 of (14, 14) — the rounded shift to index 28/2 — and
not at the geometric centre 13.5. The tests hold drawings to that, and check that MNIST's
digits themselves are fixed points of the preprocessing.
"""

from __future__ import annotations

import numpy as np
import pytest
from drawn_digits import thick_seven
from PIL import Image

from cnnviz.data import load_bundled_mnist
from cnnviz.data.drawing import (
    CENTRE,
    DrawingError,
    image_to_canvas,
    load_digit_image,
    preprocess_drawing,
    save_drawing_png,
    stamp_segment,
)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape)
    weights = image.astype(np.float64)
    return np.array([(weights * rows).sum(), (weights * cols).sum()]) / weights.sum()


def bounding_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1





@pytest.fixture(scope="module")
def mnist_test():
    return load_bundled_mnist().test


def test_a_drawn_digit_is_boxed_to_20_px_and_centred_like_mnist():
    image = preprocess_drawing(thick_seven())
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    assert max(bounding_box(image)) == 20
    assert np.abs(centre_of_mass(image) - CENTRE).max() <= 0.5 + 1e-9
    assert image.max() == 255
    # Anti-aliasing: the slanted stem leaves grey levels between paper and ink.
    assert ((image > 0) & (image < 255)).sum() > 10


def test_mnist_digits_are_fixed_points(mnist_test):
    """MNIST's own digits already are what the preprocessing makes: it changes none of them."""
    for image in mnist_test.images[:300]:
        assert np.array_equal(preprocess_drawing(image / 255.0), image)


@pytest.mark.parametrize("shape", [(32, 32), (16, 16), (64, 48)])
def test_other_input_sizes_are_made_in_proportion(shape):
    """A network of another input size gets the drawing made the MNIST way at its size: the
    ink's box fills 20/28 of the shorter side, its centre of mass at the field's middle; 28×28
    is the MNIST result exactly."""
    image = preprocess_drawing(thick_seven(), shape)
    assert image.dtype == np.uint8 and image.shape == shape and image.max() == 255
    assert max(bounding_box(image)) == round(min(shape) * 20 / 28)
    assert np.abs(centre_of_mass(image) - np.array(shape) / 2).max() <= 0.5 + 1e-9
    np.testing.assert_array_equal(preprocess_drawing(thick_seven(), (28, 28)),
                                  preprocess_drawing(thick_seven()))
    assert not preprocess_drawing(np.zeros((280, 280)), shape).any()
    with pytest.raises(ValueError, match=r"at least 1×1, got \(0, 5\)"):
        preprocess_drawing(thick_seven(), (0, 5))


def test_aspect_ratio_is_kept():
    canvas = np.zeros((280, 280))
    canvas[40:240, 100:150] = 1.0          # 200 tall, 50 wide
    image = preprocess_drawing(canvas)
    assert bounding_box(image) == (20, 5)
    assert (image[image > 0] == 255).all()  # whole pixels: no grey fringe
    wide = preprocess_drawing(canvas.T)
    assert bounding_box(wide) == (5, 20)


def test_empty_and_tiny_canvases():
    assert not preprocess_drawing(np.zeros((280, 280))).any()
    dot = np.zeros((50, 70))
    dot[10, 60] = 1.0
    image = preprocess_drawing(dot)
    assert image.sum() == 20 * 20 * 255                 # a speck is blown up to the 20×20 box
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\)"):
        preprocess_drawing(np.zeros((2, 3, 4)))


def test_stamp_segment_draws_a_continuous_soft_round_stroke():
    canvas = np.zeros((100, 100), np.float32)
    assert stamp_segment(canvas, (10, 50), (90, 50), radius=8) is not None
    assert (canvas[50, 10:90] == 1.0).all()               # no gaps along the segment
    assert 0 < canvas[50 - 7, 50] < 1                     # soft edge
    assert canvas[50 - 9, 50] == 0 and canvas[50, 99] == 0
    before = canvas.copy()
    stamp_segment(canvas, (50, 50), (50, 50), radius=8)   # maximum, not sum: no darkening
    assert np.array_equal(canvas, before)
    assert stamp_segment(canvas, (-50, -50), (-40, -40), radius=3) is None


def test_polarity_is_detected_from_the_border():
    canvas = thick_seven(100)
    assert np.array_equal(image_to_canvas(canvas), image_to_canvas(1.0 - canvas))
    assert not image_to_canvas(np.full((30, 30), 0.8)).any()     # blank paper: no ink


def test_dark_on_light_and_light_on_dark_pngs_give_the_same_digit(tmp_path):
    ink = (thick_seven() * 255).astype(np.uint8)
    Image.fromarray(ink).save(tmp_path / "light_on_dark.png")
    Image.fromarray(255 - ink).save(tmp_path / "dark_on_light.png")
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = ink                                          # black ink on transparency
    Image.fromarray(rgba).save(tmp_path / "transparent.png")
    expected = preprocess_drawing(thick_seven())
    for name in ("light_on_dark.png", "dark_on_light.png", "transparent.png"):
        assert np.array_equal(load_digit_image(tmp_path / name), expected), name


def test_a_jpeg_photo_of_a_digit_is_cleaned_up(tmp_path, mnist_test):
    """Grey paper, grey pencil and JPEG ringing: still boxed, centred, ink at full strength."""
    digit = np.kron(mnist_test.images[0], np.ones((8, 8))) / 255.0
    photo = 0.8 - 0.5 * digit                                    # grey pencil on grey paper
    Image.fromarray((photo * 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=60)
    image = load_digit_image(tmp_path / "photo.jpg")
    assert max(bounding_box(image)) == 20 and image.max() == 255
    assert np.abs(centre_of_mass(image) - CENTRE).max() <= 0.5 + 1e-9
    assert np.abs(image.astype(int) - mnist_test.images[0]).mean() < 12


@pytest.mark.parametrize("content", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\nbroken"])
def test_a_non_image_is_a_one_line_drawing_error_naming_the_file(tmp_path, content):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(DrawingError) as caught:
        load_digit_image(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(DrawingError, match="missing.png"):
        load_digit_image(tmp_path / "missing.png")


def test_save_drawing_png_round_trips_and_leaves_no_temporary_file(tmp_path, mnist_test):
    image = mnist_test.images[3]
    path = tmp_path / "digit.png"
    save_drawing_png(path, image)
    save_drawing_png(path, image)                                # overwriting is fine
    assert np.array_equal(np.asarray(Image.open(path)), image)
    assert np.array_equal(load_digit_image(path), image)
    assert [p.name for p in tmp_path.iterdir()] == ["digit.png"]
    with pytest.raises(ValueError, match="float64"):
        save_drawing_png(path, image.astype(np.float64))
