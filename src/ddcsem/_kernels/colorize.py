"""Numba kernels of the DDC colouring. Private: call them through :mod:`ddcsem.colorize`.

The wrapper validates and prepares arrays (C-contiguous, uint8/uint16/float32, float32
viewed as uint32 bits for the histogram); these functions assume it did.

Two passes over the inputs:

1. :func:`histogram_pair` counts both channels, each thread one channel's share into its
   own private histogram. Integer pixels are counted exactly (256 or 65536 bins); where
   only the clip percentiles are wanted, only the pixels of the two tails that hold them
   are counted (the wrapper picks the tails on a sample and checks them). float32
   pixels are counted by the top 16 bits of an order-preserving key of their bit pattern, and
   :func:`refine_float` counts the low 16 bits inside the few bins that hold a wanted
   rank, so float percentiles are exact too (a radix select).
Histogram kernels take ``nchunks``, the number of parallel tasks (one per thread, see
:func:`chunks`); asking numba for the thread count inside a kernel would stop it
from being cached.

2. :func:`write_overlay` / :func:`write_density` stretch each pixel and write RGB; no
   temporary array of image size is made. Integer pixels go through small lookup tables
   instead, built with the same arithmetic: in the published overlay each output colour
   is fed by one channel (:func:`write_lut`, :func:`write_lut_packed`), and in density mode
   the colour depends on BSE alone and scales with the SE value (:func:`write_density_lut`).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

_SIGN = np.uint32(0x80000000)
_ALL = np.uint32(0xFFFFFFFF)


def chunks(n: int) -> int:
    """How many parallel histogram tasks to use for ``n`` pixels: one per thread, not tiny."""
    return max(1, min(nb.get_num_threads(), n // 4096))


@nb.njit(cache=True, inline="always")
def _order_key(bits):
    """Map float32 bits to a uint32 that sorts like the float (negative floats flipped)."""
    if bits & _SIGN:
        return bits ^ _ALL
    return bits | _SIGN


def _bin(value):  # pragma: no cover - compiled through the overload below
    """Histogram bin of a pixel: the value itself, or the top 16 key bits of float32 bits."""


@overload(_bin)
def _bin_by_type(value):
    # chosen by the pixel type when the kernel compiles, so the counting loop holds no
    # branch on it (16-bit pairs: 17 -> 14.5 ms at 4096² on 2 threads); uint32 pixels are
    # always float32 bits, as the wrapper converts every other dtype to float32 first
    if value == types.uint32:
        return lambda value: np.int64(_order_key(value) >> np.uint32(16))
    return lambda value: np.int64(value)


def _offset(value, lo):  # pragma: no cover - compiled through the overload below
    """``value - lo`` wrapped around in the pixel's own unsigned type."""


@overload(_offset)
def _offset_by_type(value, lo):
    # wrapping makes "outside [lo, lo + width)" one unsigned comparison, and keeps the
    # arithmetic as narrow as the pixels so the block test below runs in SIMD lanes
    kind = {types.uint8: np.uint8, types.uint16: np.uint16, types.uint32: np.uint32}[value]
    return lambda value, lo: kind(value - kind(lo))


#: Pixels per block of the tail count: the block's farthest offset is found in SIMD lanes,
#: and only a block that holds a tail pixel is looked at pixel by pixel.
_BLOCK = 64


@nb.njit(cache=True, inline="always")
def _count_outside(x, start, stop, row, lo, width):  # pragma: no cover - jit
    """Add the pixels of ``x[start:stop]`` outside ``[lo, lo + width)`` to ``row``; with
    ``width`` 0 that is every pixel, and the comparison compiles away."""
    for i in range(start, stop):
        if _offset(x[i], lo) >= width:
            row[_bin(x[i])] += 1


@nb.njit(cache=True)
def _count(x, start, stop, row, lo, width):  # pragma: no cover - jit
    """Add ``x[start:stop]`` to the histogram ``row``, binned by pixel type; with
    ``width > 0`` (integer pixels) only the pixels outside ``[lo, lo + width)``: the two
    tails of the histogram, where the clip percentiles lie."""
    x = x[start:stop]  # loops from 0: one from a run-time start did not vectorise (12 -> 5 ms)
    if width == 0:
        _count_outside(x, 0, x.size, row, 0, 0)
        return
    i = 0
    while i + _BLOCK <= x.size:
        far = _offset(x[i], lo)
        for j in range(i + 1, i + _BLOCK):
            far = max(far, _offset(x[j], lo))
        if far >= width:
            _count_outside(x, i, i + _BLOCK, row, lo, width)
        i += _BLOCK
    _count_outside(x, i, x.size, row, lo, width)


@nb.njit(cache=True, parallel=True)
def histogram_pair(a, b, nbins_a, nbins_b, nchunks, tails):  # pragma: no cover - jit
    """Histograms of two equally long 1-D arrays; int64 counts. An empty ``b`` is skipped
    (one image alone). uint8/uint16 arrays are counted by value, uint32 ones (float32
    bits) by the top 16 bits of their order key.

    ``tails`` (int64, 4) holds ``lo, width`` for ``a`` then ``b``: a width above 0 counts
    only the pixels outside ``[lo, lo + width)`` (integer pixels), 0 counts every pixel.

    Each task counts one channel's share of the pixels: on two threads one thread counts
    ``a`` and the other ``b``, so each keeps one table of counters hot in its cache
    instead of two (16-bit pairs at 4096²: 10.4 -> 9.1 ms).
    """
    n = a.size
    with_b = b.size == n
    per = (nchunks + 1) // 2 if with_b else nchunks  # tasks per channel
    step = (n + per - 1) // per
    ha = np.zeros((per, nbins_a), dtype=np.uint32)
    hb = np.zeros((per, nbins_b), dtype=np.uint32)
    tasks = 2 * per if with_b else per  # written inside prange(), this ran at half speed
    for task in nb.prange(tasks):
        c = task % per
        start = c * step
        stop = min(n, start + step)
        if task < per:
            _count(a, start, stop, ha[c], tails[0], tails[1])
        else:
            _count(b, start, stop, hb[c], tails[2], tails[3])
    out_a = np.zeros(nbins_a, dtype=np.int64)
    out_b = np.zeros(nbins_b, dtype=np.int64)
    for c in range(per):
        for j in range(nbins_a):
            out_a[j] += ha[c, j]
        for j in range(nbins_b):
            out_b[j] += hb[c, j]
    return out_a, out_b


@nb.njit(cache=True, parallel=True)
def refine_float(bits, top_bins, nchunks):  # pragma: no cover - jit
    """Count the low 16 key bits of float32 pixels whose top 16 bits are in ``top_bins``."""
    n = bits.size
    k = top_bins.size
    step = (n + nchunks - 1) // nchunks
    slot = np.full(65536, -1, dtype=np.int64)  # top bits -> row of the histogram, or -1
    for j in range(k):
        slot[top_bins[j]] = j
    hist = np.zeros((nchunks, k * 65536), dtype=np.uint32)
    for c in nb.prange(nchunks):
        start = c * step
        stop = min(n, start + step)
        row = hist[c]
        for i in range(start, stop):
            key = _order_key(bits[i])
            j = slot[np.int64(key >> np.uint32(16))]
            if j >= 0:
                row[j * 65536 + np.int64(key & np.uint32(0xFFFF))] += 1
    out = np.zeros((k, 65536), dtype=np.int64)
    for c in range(nchunks):
        for j in range(k):
            for m in range(65536):
                out[j, m] += hist[c, j * 65536 + m]
    return out


@nb.njit(cache=True, parallel=True)
def histogram_stretched(x, lo, scale, nbins, nchunks):  # pragma: no cover - jit
    """Histogram of ``clip((x - lo) * scale, 0, 1)`` in ``nbins`` equal bins over [0, 1]."""
    n = x.size
    step = (n + nchunks - 1) // nchunks
    hist = np.zeros((nchunks, nbins), dtype=np.int64)
    for c in nb.prange(nchunks):
        start = c * step
        stop = min(n, start + step)
        for i in range(start, stop):
            v = (np.float64(x[i]) - lo) * scale
            j = np.int64(v * nbins) if v > 0.0 else 0
            hist[c, min(j, nbins - 1)] += 1
    return hist.sum(axis=0)


@nb.njit(cache=True, inline="always")
def _stretch(v, lo, scale):
    s = (np.float64(v) - lo) * scale
    if s < 0.0:
        return 0.0
    if s > 1.0:
        return 1.0
    return s


@nb.njit(cache=True, inline="always")
def _to_byte(v):
    if v >= 1.0:
        return np.uint8(255)
    if v <= 0.0:
        return np.uint8(0)
    return np.uint8(np.int64(v * 255.0 + 0.5))


@nb.njit(cache=True, parallel=True)
def write_overlay(se, bse, se_lo, se_scale, bse_lo, bse_scale, coef, out):  # pragma: no cover
    """out[..., k] = coef[k] * stretch(bse) + coef[3 + k] * stretch(se), as bytes."""
    rows, cols = se.shape
    c0, c1, c2, c3, c4, c5 = coef[0], coef[1], coef[2], coef[3], coef[4], coef[5]
    for r in nb.prange(rows):
        for c in range(cols):
            s = _stretch(se[r, c], se_lo, se_scale)
            b = _stretch(bse[r, c], bse_lo, bse_scale)
            out[r, c, 0] = _to_byte(c0 * b + c3 * s)
            out[r, c, 1] = _to_byte(c1 * b + c4 * s)
            out[r, c, 2] = _to_byte(c2 * b + c5 * s)


@nb.njit(cache=True, parallel=True)
def write_density(
    se, bse, se_lo, se_scale, bse_lo, bse_scale, threshold, width, hue0, hue1, sat, v0, out
):  # pragma: no cover - jit
    """Hue from a smooth two-phase density of the BSE, value from the SE (HSV to RGB)."""
    rows, cols = se.shape
    for r in nb.prange(rows):
        for c in range(cols):
            s = _stretch(se[r, c], se_lo, se_scale)
            b = _stretch(bse[r, c], bse_lo, bse_scale)
            x = (b - (threshold - width)) / (2.0 * width)
            x = min(max(x, 0.0), 1.0)
            d = x * x * (3.0 - 2.0 * x)
            h = (hue0 + d * (hue1 - hue0)) / 360.0
            h = h - np.floor(h)
            v = v0 + (1.0 - v0) * s
            h6 = h * 6.0
            i = np.int64(h6)
            f = h6 - i
            p = v * (1.0 - sat)
            q = v * (1.0 - sat * f)
            t = v * (1.0 - sat * (1.0 - f))
            i = i % 6
            if i == 0:
                rr, gg, bb = v, t, p
            elif i == 1:
                rr, gg, bb = q, v, p
            elif i == 2:
                rr, gg, bb = p, v, t
            elif i == 3:
                rr, gg, bb = p, q, v
            elif i == 4:
                rr, gg, bb = t, p, v
            else:
                rr, gg, bb = v, p, q
            out[r, c, 0] = _to_byte(rr)
            out[r, c, 1] = _to_byte(gg)
            out[r, c, 2] = _to_byte(bb)


@nb.njit(cache=True, parallel=True)
def write_lut(se, bse, lut_se, lut_bse, out):  # pragma: no cover - jit
    """out[..., k] = lut_bse[k, bse] + lut_se[k, se]: integer pixels through lookup tables.

    Used when each output colour comes from one channel only (the published red/green
    overlay), so the two tables never both add to one byte.
    """
    rows, cols = se.shape
    for r in nb.prange(rows):
        for c in range(cols):
            s = se[r, c]
            b = bse[r, c]
            out[r, c, 0] = lut_bse[0, b] + lut_se[0, s]
            out[r, c, 1] = lut_bse[1, b] + lut_se[1, s]
            out[r, c, 2] = lut_bse[2, b] + lut_se[2, s]


@nb.njit(cache=True, parallel=True)
def write_lut_packed(se, bse, lut_se, lut_bse, out_words):  # pragma: no cover - jit
    """:func:`write_lut` for rows of a multiple of 4 pixels, storing 4 RGB pixels as three
    32-bit words (little-endian) instead of 12 single bytes.

    ``lut_*`` hold ``R | G << 8 | B << 16`` per value; ``out_words`` is the (M, N, 3) uint8
    output viewed as (M, 3 N / 4) uint32.
    """
    rows, cols = se.shape
    for r in nb.prange(rows):
        w = 0
        for c in range(0, cols, 4):
            p0 = lut_bse[bse[r, c]] + lut_se[se[r, c]]
            p1 = lut_bse[bse[r, c + 1]] + lut_se[se[r, c + 1]]
            p2 = lut_bse[bse[r, c + 2]] + lut_se[se[r, c + 2]]
            p3 = lut_bse[bse[r, c + 3]] + lut_se[se[r, c + 3]]
            out_words[r, w] = p0 | (p1 << np.uint32(24))
            out_words[r, w + 1] = (p1 >> np.uint32(8)) | (p2 << np.uint32(16))
            out_words[r, w + 2] = (p2 >> np.uint32(16)) | (p3 << np.uint32(8))
            w += 3


@nb.njit(cache=True, parallel=True)
def write_density_lut(se, bse, value_lut, colour_lut, out):  # pragma: no cover - jit
    """Density mode for integer pixels: RGB = value(SE) x colour(BSE), both from tables.

    HSV to RGB is linear in the value, so ``hsv(h, s, v) = v * hsv(h, s, 1)``: a table of
    ``255 v`` per SE level (float32, ``(K,)``) and one of ``hsv(h(bse), s, 1)`` per BSE level
    (float32, ``(K, 3)``: a pixel's three factors share a cache line) give each byte with one
    multiplication. Both factors lie in [0, 1] x 255, so no byte needs clipping. float32
    tables are half the size of float64 ones and stay in the L2 cache (16-bit data: 32 ms
    -> 14 ms at 4096² on 2 threads); rounding differs from float64 by at most one level.
    """
    rows, cols = se.shape
    half = np.float32(0.5)
    for r in nb.prange(rows):
        for c in range(cols):
            v = value_lut[se[r, c]]
            b = bse[r, c]
            out[r, c, 0] = np.uint8(np.int32(v * colour_lut[b, 0] + half))
            out[r, c, 1] = np.uint8(np.int32(v * colour_lut[b, 1] + half))
            out[r, c, 2] = np.uint8(np.int32(v * colour_lut[b, 2] + half))
