"""Separable smoothing and maximum filters for the pipeline (private).

Both run the parallel float32 numba kernel :func:`ddcsem._kernels.filters.separable_filter`,
both axes in one pass over the image. ``scipy.ndimage.gaussian_filter``
(``mode="reflect"``, ``truncate=4``) and ``scipy.ndimage.maximum_filter`` (square window)
are the references the tests hold them to; the Gaussian uses scipy's weights and
accumulates in float32 instead of float64.
Small images go to scipy, which is as fast there.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError, require_positive

#: Below this many pixels scipy is as fast and the kernel's dispatch is not worth it.
_SMALL = 64 * 64


def gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Weights at offsets 0, 1, ..., r of the normalised Gaussian scipy uses (float32).

    Examples
    --------
    >>> w = gaussian_weights(1.0)
    >>> len(w), round(float(w[0] + 2 * w[1:].sum()), 6)
    (5, 1.0)
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return (phi / (phi[0] + 2 * phi[1:].sum())).astype(np.float32)


def _separable(x: np.ndarray, half: np.ndarray, maximum: bool,
               half_cols: np.ndarray | None = None) -> np.ndarray:
    """Filter along the rows' axis with ``half``, then along the columns' with ``half_cols``
    (default ``half``)."""
    from ._kernels.filters import separable_filter

    return separable_filter(x, half, half if half_cols is None else half_cols, maximum, np.empty_like(x))


def _as_image(image: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(image, dtype=np.float32)
    if x.ndim != 2:
        raise ParameterError(f"filtering needs a 2-D image, got shape {x.shape}")
    return x


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed copy of a 2-D image as float32 (scipy's reflect boundary).

    Examples
    --------
    >>> x = np.zeros((5, 5), np.float32); x[2, 2] = 1
    >>> round(float(gaussian(x, 1.0).sum()), 5)
    1.0
    """
    from scipy import ndimage

    x = _as_image(image)
    sigma = require_positive(sigma, "sigma")
    if x.size < _SMALL:
        return ndimage.gaussian_filter(x, float(sigma), mode="reflect")
    return _separable(x, gaussian_weights(sigma), False)


def maximum(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Maximum over the ``size`` x ``size`` window (odd size; or ``(rows, cols)``) around
    each pixel, float32. A window that reaches across the image from every pixel (over
    twice its extent less one) is taken at that extent: it holds the same pixels, and
    the kernel's work grows with the window.

    Examples
    --------
    >>> x = np.zeros((5, 5), np.float32); x[0, 0] = 1
    >>> int(maximum(x, 3).sum()), int(maximum(x, (1, 3)).sum()), int(maximum(x, 10**9 + 1).sum())
    (4, 2, 25)
    """
    from scipy import ndimage

    x = _as_image(image)
    sizes = (size, size) if np.isscalar(size) else tuple(size)
    if len(sizes) != 2 or any(n < 1 or n % 2 == 0 for n in sizes):
        raise ParameterError(f"the window size must be odd and positive, got {size}")
    sizes = tuple(min(int(n), 2 * extent - 1) for n, extent in zip(sizes, x.shape))
    if x.size < _SMALL:
        return ndimage.maximum_filter(x, size=sizes)
    rows, cols = (np.zeros(n // 2 + 1, dtype=np.float32) for n in sizes)
    return _separable(x, rows, True, cols)
