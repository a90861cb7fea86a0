"""Numba kernels of the separable filters. Private: see :mod:`ddcsem._filters`.

:func:`line_filter` filters a float32 image along one axis over the window -r..r, either
correlating with a symmetric kernel (``half[k]`` is the weight at offset +-k) or taking
the window maximum, with scipy's ``reflect`` boundary (``d c b a | a b c d | d c b a``).
Both axes run over whole rows so the inner loop is contiguous and vectorises; rows are
spread over the threads. ``scipy.ndimage.gaussian_filter`` and ``maximum_filter`` are
the references in the tests.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def _reflect(i, n):  # pragma: no cover - jit
    """Index i folded into 0..n-1 the way scipy's ``reflect`` mode folds it."""
    m = i % (2 * n)
    return m if m < n else 2 * n - 1 - m


@nb.njit(cache=True, inline="always")
def _combine(acc, lo, hi, w, maximum):  # pragma: no cover - jit
    """acc += w * (lo + hi), or acc = max(acc, lo, hi); the branch stays out of the loop."""
    if maximum:
        for j in range(acc.shape[0]):
            acc[j] = max(acc[j], max(lo[j], hi[j]))
    else:
        for j in range(acc.shape[0]):
            acc[j] += w * (lo[j] + hi[j])


@nb.njit(cache=True, parallel=True)
def line_filter(image, half, axis, maximum, out):  # pragma: no cover - jit
    """Filter ``image`` along ``axis`` into ``out`` over offsets -r..r, r = len(half) - 1.

    Accumulation is in float32; each row's accumulator is a fresh array so the compiler
    sees no aliasing and vectorises.
    """
    rows, cols = image.shape
    r = half.shape[0] - 1
    w0 = np.float32(1.0) if maximum else half[0]
    for i in nb.prange(rows):
        acc = np.empty(cols, dtype=np.float32)
        if axis == 0:
            for j in range(cols):
                acc[j] = w0 * image[i, j]
            for k in range(1, r + 1):
                _combine(acc, image[_reflect(i - k, rows)], image[_reflect(i + k, rows)], half[k], maximum)
        else:
            buf = np.empty(cols + 2 * r, dtype=np.float32)
            for j in range(cols):
                buf[j + r] = image[i, j]
            for j in range(r):  # the margins are few, so the modulo in _reflect is cheap here
                buf[j] = image[i, _reflect(j - r, cols)]
                buf[cols + r + j] = image[i, _reflect(cols + j, cols)]
            for j in range(cols):
                acc[j] = w0 * buf[j + r]
            for k in range(1, r + 1):
                _combine(acc, buf[r - k: r - k + cols], buf[r + k: r + k + cols], half[k], maximum)
        out[i] = acc
    return out
