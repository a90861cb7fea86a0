"""Numba kernels of the flat field and the off-sample search. Private: see
:mod:`ddcsem.separate`.

:func:`by_upsampled` divides an image by its coarse background, or subtracts it,
upsampled bilinearly on the fly: one pass, no full-size background image. Its reference
in the tests is ``scipy.ndimage.zoom`` (order 1) of the background followed by the
division or the subtraction.

:func:`unmix` writes each pixel of a composite as a non-negative mix of its two colours
and flags the pixels that no mix explains, in one pass without the float copies of the
image that numpy's version makes (3 s of a 4096 x 4096 composite's analysis); its
reference in the tests is ``separate._unmix_pixels_reference``.

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


@nb.njit(cache=True, parallel=True)
def unmix(rgb, pinv, basis, share, level, annotations, bse, se, marks):  # pragma: no cover - jit
    """bse, se = the non-negative parts ``pinv @ pixel`` (clipped at 0) of each pixel of
    ``rgb`` (M, N, >= 3: its first three channels); where ``annotations``, marks = the part
    left over, ``pixel - bse * basis[0] - se * basis[1]``, is longer than ``share`` of the
    pixel and than ``level``."""
    rows, cols = bse.shape
    for r in nb.prange(rows):
        for c in range(cols):
            p0 = np.float32(rgb[r, c, 0])
            p1 = np.float32(rgb[r, c, 1])
            p2 = np.float32(rgb[r, c, 2])
            a = max(pinv[0, 0] * p0 + pinv[0, 1] * p1 + pinv[0, 2] * p2, np.float32(0.0))
            b = max(pinv[1, 0] * p0 + pinv[1, 1] * p1 + pinv[1, 2] * p2, np.float32(0.0))
            bse[r, c] = a
            se[r, c] = b
            if annotations:
                d0 = p0 - a * basis[0, 0] - b * basis[1, 0]
                d1 = p1 - a * basis[0, 1] - b * basis[1, 1]
                d2 = p2 - a * basis[0, 2] - b * basis[1, 2]
                rest = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
                marks[r, c] = rest > share * np.sqrt(p0 * p0 + p1 * p1 + p2 * p2) and rest > level
