"""Digit image files are read by their real range, or refused with a one-line DrawingError.

Each hostile file is made here: 16-bit, 32-bit and float images of grey pencil on grey paper
(clipped at 255 they came out blank), ink drawn only in the alpha channel, blank pages, FIFOs,
directories, devices, truncated files and headers claiming huge dimensions.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
import zlib

import numpy as np
import pytest
from drawn_digits import thick_seven
from PIL import Image

from cnnviz.data.drawing import MAX_PIXELS, DrawingError, load_digit_image, preprocess_drawing


def pencil(ink: np.ndarray) -> np.ndarray:
    """Grey pencil (0.3) on grey paper (0.8): every level well inside the range, none at 0 or 1."""
    return 0.8 - 0.5 * ink


EXPECTED = preprocess_drawing(thick_seven())

# name → (array from a {0, 1} ink image, file name). Pencil levels times the type's full scale.
HIGH_RANGE = {
    "16-bit PNG": (lambda ink: np.rint(pencil(ink) * 65535).astype(np.uint16), "seven.png"),
    "16-bit PNG, light on dark": (lambda ink: np.rint((1 - pencil(ink)) * 65535)
                                  .astype(np.uint16), "seven.png"),
    "16-bit TIFF": (lambda ink: np.rint(pencil(ink) * 65535).astype(np.uint16), "seven.tif"),
    "32-bit int TIFF": (lambda ink: np.rint(pencil(ink) * (2**31 - 1)).astype(np.int32),
                        "seven.tif"),
    "float TIFF in [0, 1]": (lambda ink: pencil(ink).astype(np.float32), "seven.tif"),
    "float TIFF in [0, 255]": (lambda ink: (pencil(ink) * 255).astype(np.float32), "seven.tif"),
    "float TIFF, no usual range": (lambda ink: (pencil(ink) * 1e6 - 3e5).astype(np.float32),
                                   "seven.tif"),
}


@pytest.mark.parametrize("kind", list(HIGH_RANGE))
def test_high_range_images_are_scaled_not_clipped(tmp_path, kind):
    make, name = HIGH_RANGE[kind]
    path = tmp_path / name
    Image.fromarray(make(thick_seven())).save(path)
    with Image.open(path) as written:
        assert written.mode in ("I;16", "I", "F")             # the modes the test is about
    np.testing.assert_array_equal(load_digit_image(path), EXPECTED)


def test_nan_and_infinity_in_a_float_image_are_not_ink(tmp_path):
    values = pencil(thick_seven()).astype(np.float32)
    values[:5, :5] = np.nan
    values[-5:, -5:] = np.inf
    Image.fromarray(values).save(tmp_path / "seven.tif")
    assert np.abs(load_digit_image(tmp_path / "seven.tif").astype(int) - EXPECTED).max() <= 1


def rgba(colour: tuple[int, int, int], alpha: np.ndarray) -> Image.Image:
    pixels = np.empty((*alpha.shape, 4), np.uint8)
    pixels[..., :3] = colour
    pixels[..., 3] = alpha
    return Image.fromarray(pixels)


def palette_with_transparency(ink: np.ndarray) -> tuple[Image.Image, dict]:
    """Index 0: transparent white, index 1: opaque white — the digit is in the tRNS chunk."""
    image = Image.fromarray(ink.astype(np.uint8), "P")
    image.putpalette([255, 255, 255, 255, 255, 255])
    return image, {"transparency": 0}


ALPHA_ONLY = {
    "white ink RGBA": lambda ink: (rgba((255, 255, 255), ink * 255), {}),
    "black ink RGBA": lambda ink: (rgba((0, 0, 0), ink * 255), {}),
    "mid-grey ink RGBA": lambda ink: (rgba((128, 128, 128), ink * 255), {}),
    "red ink RGBA": lambda ink: (rgba((255, 0, 0), ink * 255), {}),
    "white ink LA": lambda ink: (rgba((255, 255, 255), ink * 255).convert("LA"), {}),
    "white palette with tRNS": palette_with_transparency,
}


@pytest.mark.parametrize("kind", list(ALPHA_ONLY))
def test_ink_only_in_the_alpha_channel_comes_out_as_the_digit(tmp_path, kind):
    """Whatever one colour the ink has, the paper behind it is made to contrast with it."""
    image, options = ALPHA_ONLY[kind](thick_seven().astype(np.uint8))
    image.save(tmp_path / "seven.png", **options)
    np.testing.assert_array_equal(load_digit_image(tmp_path / "seven.png"), EXPECTED)


@pytest.mark.parametrize("margin_colour", [(0, 0, 0), (255, 255, 255)])
def test_an_opaque_page_in_a_transparent_margin_keeps_its_paper(tmp_path, margin_colour):
    """Visible pixels with ink and paper: the transparent margin becomes that page's paper."""
    page = (255 - thick_seven() * 255).astype(np.uint8)          # black 7 on a white page
    alpha = np.zeros((400, 400), np.uint8)
    alpha[60:340, 60:340] = 255
    image = rgba(margin_colour, alpha)
    image.paste(Image.fromarray(page).convert("RGBA"), (60, 60))
    image.save(tmp_path / "page.png")
    np.testing.assert_array_equal(load_digit_image(tmp_path / "page.png"), EXPECTED)


def speck_on_16_bit_paper() -> Image.Image:
    values = np.full((100, 100), 60000, np.uint16)
    values[50, 50] -= 40                 # 0.06 % of the range: a speck, not a digit
    return Image.fromarray(values)


BLANK = {
    "white PNG": lambda: Image.new("L", (200, 200), 255),
    "black PNG": lambda: Image.new("L", (200, 200), 0),
    "grey RGB PNG": lambda: Image.new("RGB", (200, 200), (90, 120, 200)),
    "fully transparent PNG": lambda: Image.new("RGBA", (200, 200), (0, 0, 0, 0)),
    "one 16-bit value": lambda: Image.fromarray(np.full((100, 100), 31000, np.uint16)),
    "a faint speck on 16-bit paper": speck_on_16_bit_paper,
    "one float value": lambda: Image.fromarray(np.full((100, 100), 0.25, np.float32)),
    "all NaN float": lambda: Image.fromarray(np.full((100, 100), np.nan, np.float32)),
}


@pytest.mark.parametrize("kind", list(BLANK))
def test_a_blank_image_is_refused_in_words(tmp_path, kind):
    path = tmp_path / ("blank.tif" if "float" in kind else "blank.png")
    BLANK[kind]().save(path)
    with pytest.raises(DrawingError, match=r"^no digit found in .*blank\.\w+: the image is blank$"):
        load_digit_image(path)


def load_in_thread(path) -> tuple[threading.Thread, list]:
    """Load `path` in a daemon thread; the list gets the result or the exception."""
    outcome: list = []

    def run():
        try:
            outcome.append(load_digit_image(path))
        except BaseException as error:       # handed to the test to inspect
            outcome.append(error)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    return thread, outcome


def test_a_fifo_named_like_an_image_is_refused_without_waiting(tmp_path):
    path = tmp_path / "x.png"
    os.mkfifo(path)
    thread, outcome = load_in_thread(path)
    if thread.is_alive():                    # blocked in open(): a writer lets it go
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("loading a FIFO blocked")
    assert isinstance(outcome[0], DrawingError), outcome
    assert str(outcome[0]) == f"{path}: a FIFO (named pipe), not an image file"


NOT_FILES = {
    "directory": (lambda path: path.mkdir(), "a directory"),
    "link to /dev/null": (lambda path: path.symlink_to("/dev/null"), "a character device"),
    "link to /dev/zero": (lambda path: path.symlink_to("/dev/zero"), "a character device"),
}


@pytest.mark.parametrize("name", list(NOT_FILES))
def test_directories_and_devices_are_refused(tmp_path, name):
    make, kind = NOT_FILES[name]
    path = tmp_path / "digit.png"
    make(path)
    with pytest.raises(DrawingError) as caught:
        load_digit_image(path)
    assert str(caught.value) == f"{path}: {kind}, not an image file"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".gif"])
@pytest.mark.parametrize("kept", [0.3, 0.7])
def test_a_truncated_file_is_a_one_line_error(tmp_path, suffix, kept):
    whole = tmp_path / f"whole{suffix}"
    Image.fromarray((pencil(thick_seven()) * 255).astype(np.uint8)).save(whole)
    data = whole.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:int(len(data) * kept)])
    with pytest.raises(DrawingError) as caught:
        load_digit_image(path)
    assert str(caught.value).startswith(f"{path}: not a readable image (")
    assert "\n" not in str(caught.value)


def test_postscript_is_not_opened(tmp_path):
    """A file named .png holding EPS is refused, not handed to Ghostscript by Pillow."""
    path = tmp_path / "digit.png"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    with pytest.raises(DrawingError, match=r"not a readable image \(cannot identify"):
        load_digit_image(path)


def png_header(width: int, height: int) -> bytes:
    """A 1-bit PNG claiming `width` × `height` pixels, with a few bytes of data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [
    int(MAX_PIXELS ** 0.5) + 1,                              # over cnnviz's limit only
    int((Image.MAX_IMAGE_PIXELS or MAX_PIXELS) ** 0.5) + 1,  # Pillow warns
    100_000,                                                 # Pillow refuses
])
def test_huge_dimensions_are_refused_before_decoding(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(side, side))
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")        # as outside pytest: a warning must not escape
        with pytest.raises(DrawingError) as caught:
            load_digit_image(path)
    assert caught_warnings == []
    message = str(caught.value)
    assert message.startswith(f"{path}: the image is too large (") and "\n" not in message
