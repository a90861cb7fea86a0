"""Numba kernels of the separable filters. Private: see :mod:`ddcsem._filters`.

:func:`separable_filter` filters a float32 image along both axes over windows -r..r,
either correlating with symmetric kernels (``half[k]`` is the weight at offset +-k) or
taking the window maximum, with scipy's ``reflect`` boundary
(``d c b a | a b c d | d c b a``). Both axes run over whole rows so the inner loop is
contiguous and vectorises; rows are spread over the threads.
``scipy.ndimage.gaussian_filter`` and ``maximum_filter`` are the references in the tests.
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
def separable_filter(image, half_rows, half_cols, maximum, out):  # pragma: no cover - jit
    """Filter ``image`` into ``out`` along the rows' axis over offsets -r..r (r =
    len(half_rows) - 1), then along the columns' axis with ``half_cols``.

    Both passes run per output row: the row of the first pass is filtered by the second
    while it is in cache, so the image goes through memory once, not twice. Accumulation
    is in float32, in the order a pass per axis would take; each row's accumulators are
    fresh arrays so the compiler sees no aliasing and vectorises.
    """
    rows, cols = image.shape
    r = half_rows.shape[0] - 1
    q = half_cols.shape[0] - 1
    w0 = np.float32(1.0) if maximum else half_rows[0]
    v0 = np.float32(1.0) if maximum else half_cols[0]
    for i in nb.prange(rows):
        buf = np.empty(cols + 2 * q, dtype=np.float32)
        acc = buf[q: q + cols]
        for j in range(cols):
            acc[j] = w0 * image[i, j]
        for k in range(1, r + 1):
            _combine(acc, image[_reflect(i - k, rows)], image[_reflect(i + k, rows)], half_rows[k], maximum)
        for j in range(q):  # the margins are few, so the modulo in _reflect is cheap here
            buf[j] = buf[q + _reflect(j - q, cols)]
            buf[cols + q + j] = buf[q + _reflect(cols + j, cols)]
        line = np.empty(cols, dtype=np.float32)
        for j in range(cols):
            line[j] = v0 * buf[j + q]
        for k in range(1, q + 1):
            _combine(line, buf[q - k: q - k + cols], buf[q + k: q + k + cols], half_cols[k], maximum)
        out[i] = line
    return out
