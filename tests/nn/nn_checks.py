"""Tolerances shared by the engine tests: exact float64 agreement and float32 rounding bounds."""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)


def assert_f64_close(actual, expected, what: str = "") -> None:
    """Float64 engine result vs the float64 oracle: only summation order may differ (rtol 1e-10)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, not {expected.shape}"
    assert actual.dtype == np.float64, f"{what}: dtype {actual.dtype}, expected float64"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12 * scale, err_msg=what)


def assert_f32_close(actual, expected, abs_ref, n_terms: int, what: str = "") -> None:
    """A float32 sum of ``n_terms`` products vs its exact value, within worst-case float32 rounding.

    ``expected`` is the oracle on the same float32 inputs (so exact up to float64 rounding) and
    ``abs_ref`` the oracle on their absolute values: the sum of |terms| each element is made of.
    Any summation order of n terms in float32 stays within about n * eps/2 * sum|terms|.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, not {expected.shape}"
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}, expected float32"
    bound = (n_terms + 2) * EPS32 * np.asarray(abs_ref) + float(np.finfo(np.float32).tiny)
    err = np.abs(actual.astype(np.float64) - expected)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (
        f"{what}: error {err[worst]:.3g} at {worst} exceeds the float32 bound {bound[worst]:.3g}"
    )
