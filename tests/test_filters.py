"""The separable numba filters against scipy.ndimage, their reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ddcsem._filters import _separable, gaussian, gaussian_weights, maximum
from ddcsem.errors import ParameterError

# shapes smaller than the kernel radius test the repeated reflection at the borders
SHAPES = [(1, 1), (3, 200), (200, 3), (40, 41), (130, 90)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0, 7.5])
def test_gaussian_kernel_matches_scipy(shape, sigma):
    x = np.random.default_rng(len(shape) + shape[0]).random(shape, dtype=np.float32) * 100
    got = _separable(x, gaussian_weights(sigma), False)
    np.testing.assert_allclose(got, ndimage.gaussian_filter(x, sigma, mode="reflect"), atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", [1, 3, 7, 41])
def test_maximum_kernel_matches_scipy(shape, size):
    x = np.random.default_rng(shape[1]).random(shape, dtype=np.float32)
    got = _separable(x, np.zeros(size // 2 + 1, np.float32), True)
    np.testing.assert_array_equal(got, ndimage.maximum_filter(x, size=size))


def test_wrappers_match_scipy_and_keep_the_input():
    x = np.random.default_rng(3).random((150, 170)).astype(np.float64)  # big enough for the kernel
    before = x.copy()
    smooth = gaussian(x, 2.0)
    assert smooth.dtype == np.float32
    np.testing.assert_allclose(smooth, ndimage.gaussian_filter(x, 2.0), atol=1e-6)
    np.testing.assert_array_equal(maximum(x, 5), ndimage.maximum_filter(x.astype(np.float32), size=5))
    np.testing.assert_array_equal(maximum(x, (3, 9)), ndimage.maximum_filter(x.astype(np.float32), size=(3, 9)))
    np.testing.assert_array_equal(x, before)
    for bad in (4, (3, 4), (0, 3), (3, 3, 3)):
        with pytest.raises(ParameterError, match="odd and positive"):
            maximum(x, bad)
    tiny = np.arange(12.0).reshape(3, 4)  # small images go to scipy: the same answer
    np.testing.assert_allclose(gaussian(tiny, 1.0), ndimage.gaussian_filter(tiny.astype(np.float32), 1.0))


def test_gaussian_weights_are_scipys():
    for sigma in (0.7, 2.0, 5.0):
        half = gaussian_weights(sigma)
        impulse = np.zeros(2 * len(half) + 1)
        impulse[len(half)] = 1
        full = ndimage.gaussian_filter1d(impulse, sigma)[1:-1]
        np.testing.assert_allclose(np.r_[half[::-1], half[1:]], full, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(ParameterError, match="2-D"):
        gaussian(np.zeros((2, 3, 4)), 1.0)
    with pytest.raises(ParameterError, match="sigma"):
        gaussian(np.zeros((4, 4)), 0.0)
    with pytest.raises(ParameterError, match="odd"):
        maximum(np.zeros((4, 4)), 4)
