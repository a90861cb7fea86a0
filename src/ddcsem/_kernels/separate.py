"""Numba kernels of the flat field and the off-sample search. Private: see
:mod:`ddcsem.separate`.

:func:`by_upsampled` divides an image by its coarse background, or subtracts it,
upsampled bilinearly on the fly: one pass, no full-size background image. Its reference
in the tests is ``scipy.ndimage.zoom`` (order 1) of the background followed by the
division or the subtraction.

:func:`block_means` averages an image over square blocks in one pass over its rows (the
numpy reshape-and-mean it replaces took 40 ms at 4096 x 4096, 16-bit); its reference in
the tests is that mean.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True)
def by_upsampled(image, coarse, row_left, row_frac, col_left, col_frac, floor, subtract,
                 out):  # pragma: no cover - jit
    """out = image / max(background, floor), or image - background where ``subtract``,
    where background[r, c] interpolates ``coarse`` between rows ``row_left[r]`` and
    ``row_left[r] + 1`` (weight ``row_frac[r]`` on the second), and likewise between
    columns."""
    rows, cols = image.shape
    k = coarse.shape[1]
    for r in nb.prange(rows):
        i = row_left[r]
        f = row_frac[r]
        line = np.empty(k, dtype=np.float32)
        for j in range(k):
            line[j] = (1 - f) * coarse[i, j] + f * coarse[i + 1, j]
        for c in range(cols):
            j = col_left[c]
            g = col_frac[c]
            background = (1 - g) * line[j] + g * line[j + 1]
            if subtract:
                out[r, c] = image[r, c] - background
            else:
                out[r, c] = image[r, c] / max(background, floor)
    return out


@nb.njit(cache=True, parallel=True)
def block_means(image, step, out):  # pragma: no cover - jit
    """out[i, j] = the mean of ``image[i*step:(i+1)*step, j*step:(j+1)*step]`` for the
    blocks of ``out``'s shape (the image's last rows and columns beyond them left out)."""
    rows, cols = out.shape
    scale = 1.0 / (step * step)
    for i in nb.prange(rows):
        acc = np.zeros(cols, dtype=np.float64)
        for r in range(i * step, (i + 1) * step):
            for j in range(cols):
                total = 0.0
                for c in range(j * step, (j + 1) * step):
                    total += image[r, c]
                acc[j] += total
        for j in range(cols):
            out[i, j] = acc[j] * scale
    return out
