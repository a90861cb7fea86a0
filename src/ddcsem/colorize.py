"""DDC colouring: SE (topography) and BSE (density) to one RGB image.

Two modes:

``overlay``
    The published DDC-SEM method (Bertazzo et al., Nat. Mater. 12, 576-583, 2013): each
    channel is stretched between percentiles of its own histogram, BSE goes to red and SE
    to green, and the two are added. It equals ImageJ's *Merge Channels* (c1 = BSE,
    c2 = SE) after the same display range. Dense calcium phosphate, bright in both
    channels, comes out orange; matrix, bright only in SE, green.
``density``
    Colour from density, brightness from topography: the stretched BSE is turned into a
    smooth two-phase density (0 matrix, 1 mineral, switching around its Otsu threshold)
    that sets the hue (green to orange, or blue to orange for colour-blind readers); the
    SE sets the brightness.

:func:`colorize` runs a fused numba kernel (one pass to histogram both channels, one to
write RGB); :func:`colorize_reference` computes the same thing with plain numpy and is
what the tests hold the kernel to.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import ParameterError, not_finite, require_choice, require_finite, require_image, require_positive

__all__ = ["colorize", "colorize_reference", "PALETTES", "otsu_threshold_hist", "otsu_threshold", "li_threshold",
           "two_phase_levels", "percentiles"]

#: Hues (degrees) of matrix and mineral for ``mode="density"``.
PALETTES: dict[str, tuple[float, float]] = {
    "green-orange": (120.0, 30.0),
    "blue-orange": (200.0, 35.0),  # colour-blind safe
}

_SATURATION = 0.85
_MIN_VALUE = 0.15  # darkest SE still shows its hue
_OTSU_BINS = 256

#: Where a channel's clip percentiles are all that is wanted (overlay mode, and the SE in
#: density mode), the histogram pass counts only the pixels of the two tails that hold
#: them: the middle of the histogram is most of the pixels and none of the answer. The
#: tails are picked on a sample, every ``_TAIL_STEP``-th run of ``_TAIL_RUN`` pixels (runs,
#: not single pixels: a strided sample reads every cache line), ``_TAIL_MARGIN`` of the pixels
#: wider than the percentiles need, and checked on the full count; a miss is counted again.
_TAIL_RUN = 1024
_TAIL_STEP = 61
#: Below this many pixels the sample costs more than the tails save (2048²: 0.1-0.5 ms
#: slower; 4096² on 2 threads: 1.79 -> 1.61x the copy floor, medians of 8 bench runs).
_TAIL_MIN_PIXELS = 1 << 23
_TAIL_MARGIN = 0.002
_EVERY_PIXEL = np.zeros(4, dtype=np.int64)  # no tails: histogram_pair counts every pixel

Mode = Literal["overlay", "density"]


@dataclass(frozen=True)
class _Options:
    mode: str
    lo_pct: float
    hi_pct: float
    coef: np.ndarray  # (6,) red/green/blue weights of BSE then SE
    hues: tuple[float, float]
    transition: float


def _clip_percentiles(clip: Any) -> tuple[float, float]:
    """``clip`` checked: two percentiles, the low one under the high one (float, float).

    Examples
    --------
    >>> _clip_percentiles(["0.5", 99.5])
    (0.5, 99.5)
    >>> _clip_percentiles((99, 1))
    Traceback (most recent call last):
    ...
    ddcsem.errors.ParameterError: clip percentiles must satisfy 0 <= low < high <= 100, got (99, 1)
    """
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise ParameterError(f"clip must be two percentiles (low, high), not {clip!r}") from None
    if not (0.0 <= lo < hi <= 100.0):
        raise ParameterError(f"clip percentiles must satisfy 0 <= low < high <= 100, got {clip!r}")
    return lo, hi


def _options(
    mode: str,
    clip: tuple[float, float],
    bse_color: tuple[float, float, float],
    se_color: tuple[float, float, float],
    green_gain: float,
    palette: str,
    transition: float,
) -> _Options:
    mode = require_choice(mode, "mode", ("overlay", "density"))
    lo, hi = _clip_percentiles(clip)
    try:
        colours = np.array([bse_color, se_color], dtype=np.float64)
    except (TypeError, ValueError):  # not numbers, or not as many in each
        colours = np.full(1, np.nan)
    if colours.shape != (2, 3) or not np.all(np.isfinite(colours)) or np.any(colours < 0):
        raise ParameterError(f"bse_color and se_color must be three non-negative numbers each, not {bse_color!r} "
                             f"and {se_color!r}")
    colours[1] *= require_positive(green_gain, "green_gain", zero=True)
    palette = require_choice(palette, "palette", tuple(PALETTES))
    if not (0.0 < require_positive(transition, "transition") <= 0.5):
        raise ParameterError(f"transition must be in (0, 0.5], not {transition!r}")
    return _Options(mode, lo, hi, colours.ravel(), PALETTES[palette], float(transition))


def _check_pair(se: np.ndarray, bse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    se, bse = require_image(se, "se"), require_image(bse, "bse")
    if se.shape != bse.shape:
        raise ParameterError(f"se and bse differ in shape: {se.shape} vs {bse.shape}")
    return se, bse


def otsu_threshold_hist(counts: np.ndarray) -> float:
    """Otsu's threshold of a histogram of values in [0, 1] with equal bins.

    Parameters
    ----------
    counts : ndarray, shape (K,)
        Counts of K equal bins spanning [0, 1].

    Returns
    -------
    float
        Centre of the last bin of the lower class (same convention as
        ``skimage.filters.threshold_otsu``).

    Examples
    --------
    >>> counts = np.zeros(256); counts[40] = 100; counts[200] = 50
    >>> 40 / 256 < otsu_threshold_hist(counts) < 200 / 256
    True
    """
    counts = np.asarray(counts, dtype=np.float64)
    centres = (np.arange(counts.size) + 0.5) / counts.size
    w1 = np.cumsum(counts)
    w2 = np.cumsum(counts[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = np.cumsum(counts * centres) / w1
        m2 = (np.cumsum((counts * centres)[::-1]) / w2[::-1])[::-1]
    between = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
    if not np.any(np.isfinite(between)):
        return 0.5
    return float(centres[int(np.nanargmax(between))])


def _levels(lo_pct: float, hi_pct: float, name: str, percentiles) -> tuple[float, float]:
    """Display range: the percentiles, widened to min/max where they coincide."""
    lo, hi = percentiles((lo_pct, hi_pct))
    if hi <= lo:
        lo, hi = percentiles((0.0, 100.0))
    if hi <= lo:
        raise ParameterError(
            f"the {name} image is constant ({lo:g}) and carries no contrast to colour",
            hint="check that the right file was given for this channel",
        )
    return lo, hi


# ----------------------------------------------------------------------- reference


def colorize_reference(
    se: np.ndarray,
    bse: np.ndarray,
    *,
    mode: Mode = "overlay",
    clip: tuple[float, float] = (0.5, 99.5),
    bse_color: tuple[float, float, float] = (1.0, 0.0, 0.0),
    se_color: tuple[float, float, float] = (0.0, 1.0, 0.0),
    green_gain: float = 1.0,
    palette: str = "green-orange",
    transition: float = 0.1,
) -> np.ndarray:
    """Plain-numpy reference of :func:`colorize` (float64 throughout; slow, obvious).

    Same parameters and result as :func:`colorize`; kept so that the numba kernel can be
    checked against a straightforward implementation.

    Examples
    --------
    >>> se = np.array([[0, 100], [200, 255]], np.uint8)
    >>> colorize_reference(se, se[::-1], clip=(0, 100))[..., 1]
    array([[  0, 100],
           [200, 255]], dtype=uint8)
    """
    from matplotlib.colors import hsv_to_rgb

    se, bse = _check_pair(se, bse)
    opt = _options(mode, clip, bse_color, se_color, green_gain, palette, transition)

    def stretched(arr: np.ndarray, name: str) -> np.ndarray:
        x = arr.astype(np.float64)
        require_finite(x, f"the {name} image")
        lo, hi = _levels(opt.lo_pct, opt.hi_pct, name,
                         lambda ps: [float(v) for v in np.percentile(x, ps)])
        # times the reciprocal, as the kernel does: a quotient can differ from it in the
        # last bit, which puts a pixel on a bin edge in the other bin of density's Otsu
        return np.clip((x - lo) * (1.0 / (hi - lo)), 0.0, 1.0)

    s = stretched(se, "SE")
    b = stretched(bse, "BSE")
    if opt.mode == "overlay":
        rgb = b[..., None] * opt.coef[:3] + s[..., None] * opt.coef[3:]
    else:
        counts, _ = np.histogram(b, bins=_OTSU_BINS, range=(0.0, 1.0))
        t = otsu_threshold_hist(counts)
        x = np.clip((b - (t - opt.transition)) / (2 * opt.transition), 0.0, 1.0)
        d = x * x * (3 - 2 * x)
        hue = ((opt.hues[0] + d * (opt.hues[1] - opt.hues[0])) / 360.0) % 1.0
        value = _MIN_VALUE + (1 - _MIN_VALUE) * s
        rgb = hsv_to_rgb(np.stack([hue, np.full_like(hue, _SATURATION), value], axis=-1))
    return np.floor(np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# -------------------------------------------------------------------------- kernel


def _prepare(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """C-contiguous kernel input: (pixels, histogram view, is_float, bins)."""
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        arr = np.ascontiguousarray(arr)
        return arr, arr.reshape(-1), False, 1 << (8 * arr.dtype.itemsize)
    if arr.dtype == bool:
        arr = arr.view(np.uint8) if arr.flags.c_contiguous else arr.astype(np.uint8)
        return arr, arr.reshape(-1), False, 256
    if arr.dtype != np.float32:
        # int8/16/32/64, uint32/64, float16/64: one float32 copy (exact for |x| < 2**24)
        arr = arr.astype(np.float32)
    arr = np.ascontiguousarray(arr)
    return arr, arr.reshape(-1).view(np.uint32), True, 65536


def _key_to_float(key: int) -> float:
    bits = key ^ 0x80000000 if key & 0x80000000 else key ^ 0xFFFFFFFF
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def _check_finite(counts: np.ndarray, is_float: bool, name: str) -> None:
    """Refuse a float image whose key histogram holds NaN or infinities."""
    if is_float:
        tops = np.arange(counts.size)
        if bad := int(counts[(tops <= 0x007F) | (tops >= 0xFF80)].sum()):  # keys of NaN and +-inf
            raise not_finite(bad, f"the {name} image")


def _rank_fn(counts: np.ndarray, flat: np.ndarray, is_float: bool, name: str):
    """Return positions -> exact values of the sorted pixels at those virtual indexes
    (0..n-1, fractional ones interpolated as numpy's 'linear' method), read off a histogram."""
    from ._kernels.colorize import chunks, refine_float

    _check_finite(counts, is_float, name)
    n = int(counts.sum())
    cum = np.cumsum(counts)

    def at(pos: list[float]) -> list[float]:
        ranks = sorted({r for q in pos for r in (int(np.floor(q)), min(int(np.floor(q)) + 1, n - 1))})
        top = np.searchsorted(cum, ranks, side="right")
        if is_float:  # exact value inside each top bin from its low 16 key bits
            bins = np.unique(top)
            low = np.cumsum(refine_float(flat, bins.astype(np.int64), chunks(flat.size)), axis=1)
            before = np.where(top > 0, cum[np.maximum(top - 1, 0)], 0)
            sub = [int(np.searchsorted(low[np.searchsorted(bins, t)], r - b, side="right"))
                   for t, r, b in zip(top, ranks, before)]
            value = {r: _key_to_float((int(t) << 16) | s) for r, t, s in zip(ranks, top, sub)}
        else:
            value = {r: float(t) for r, t in zip(ranks, top)}
        out = []
        for q in pos:
            k = int(np.floor(q))
            v0, v1 = value[k], value[min(k + 1, n - 1)]
            t, diff = q - k, v1 - v0
            out.append(v1 - diff * (1 - t) if t >= 0.5 else v0 + diff * t)  # numpy's lerp
        return out

    return at


def _percentile_fn(counts: np.ndarray, flat: np.ndarray, is_float: bool, name: str):
    """Return ps -> exact percentiles (numpy's 'linear' method) read off a histogram."""
    at = _rank_fn(counts, flat, is_float, name)
    n = int(counts.sum())
    return lambda ps: at([(n - 1) * (p / 100.0) for p in ps])  # numpy's virtual index


def _histogram(image: np.ndarray, name: str):
    """(pixels, flat view, is_float, counts) of one image, from one parallel pass."""
    px, flat, is_float, bins = _prepare(np.asarray(image))
    if flat.size == 0:
        raise ParameterError(f"the {name} image is empty")
    return px, flat, is_float, _full_counts(flat, bins)


def _full_counts(flat: np.ndarray, bins: int) -> np.ndarray:
    """Histogram of every pixel of one kernel input (a flat view from :func:`_prepare`)."""
    from ._kernels.colorize import chunks, histogram_pair

    return histogram_pair(flat, flat[:0], bins, 1, chunks(flat.size), _EVERY_PIXEL)[0]


def _tail_window(sample: np.ndarray, lo_pct: float, hi_pct: float) -> tuple[int, int]:
    """``(lo, width)``: the levels ``[lo, lo + width)`` between the tails that hold the clip
    percentiles, read off a sample histogram; ``(0, 0)`` (count every pixel) where the
    tails would meet."""
    cum = np.cumsum(sample)
    m = float(cum[-1])
    lo = int(np.searchsorted(cum, (lo_pct / 100 + _TAIL_MARGIN) * m, side="right")) + 1
    hi = int(np.searchsorted(cum, (hi_pct / 100 - _TAIL_MARGIN) * m, side="left"))
    return (lo, hi - lo) if hi > lo else (0, 0)


def _fill_middle(counts: np.ndarray, lo: int, width: int, n: int, lo_pct: float,
                 hi_pct: float) -> bool:
    """Put the uncounted pixels between the tails into bin ``lo`` of a tail histogram of
    ``n`` pixels, and tell whether both ranks each clip percentile reads lie in a tail."""
    low, high = int(counts[:lo].sum()), int(counts[lo + width:].sum())
    counts[lo] += n - low - high
    last_low = int(np.floor((n - 1) * (lo_pct / 100.0))) + 1  # as _percentile_fn reads
    first_high = int(np.floor((n - 1) * (hi_pct / 100.0)))
    return last_low < low and first_high >= n - high


def _clip_counts(flats: tuple[np.ndarray, np.ndarray], bins: tuple[int, int],
                 tails: tuple[bool, bool], lo_pct: float, hi_pct: float) -> list[np.ndarray]:
    """Histograms of both channels, exact wherever the clip percentiles read them; a
    channel with ``tails`` set is counted in its tails only (integer pixels)."""
    from ._kernels.colorize import chunks, histogram_pair

    n = flats[0].size
    windows = np.zeros(4, dtype=np.int64)
    if any(tails) and n >= _TAIL_MIN_PIXELS:
        runs = [np.ascontiguousarray(f[:n - n % _TAIL_RUN].reshape(-1, _TAIL_RUN)[::_TAIL_STEP])
                for f in flats]
        sample = histogram_pair(runs[0].reshape(-1), runs[1].reshape(-1), *bins,
                                chunks(runs[0].size), _EVERY_PIXEL)
        for k in np.flatnonzero(tails):
            windows[2 * k:2 * k + 2] = _tail_window(sample[k], lo_pct, hi_pct)
    counts = list(histogram_pair(*flats, *bins, chunks(n), windows))
    for k in range(2):
        lo, width = int(windows[2 * k]), int(windows[2 * k + 1])
        if width and not _fill_middle(counts[k], lo, width, n, lo_pct, hi_pct):
            counts[k] = _full_counts(flats[k], bins[k])
    return counts


def _equal_bins(px: np.ndarray, nbins: int) -> tuple[np.ndarray | None, float, float]:
    """Counts of the pixels in ``nbins`` equal bins between their minimum and maximum (one
    parallel pass), and those two; no counts when every pixel is the same."""
    from ._kernels.colorize import chunks, histogram_stretched

    lo, hi = float(px.min()), float(px.max())
    if hi <= lo:
        return None, lo, hi
    flat = px.reshape(-1)
    return histogram_stretched(flat, lo, 1.0 / (hi - lo), nbins, chunks(flat.size)), lo, hi


def _otsu(px: np.ndarray) -> float:
    """Otsu's threshold over 256 equal bins between the pixels' minimum and maximum
    (scikit-image's convention)."""
    counts, lo, hi = _equal_bins(px, _OTSU_BINS)
    return lo if counts is None else lo + otsu_threshold_hist(counts) * (hi - lo)


def _finite_pixels(image: np.ndarray) -> np.ndarray:
    """The pixels of ``image`` as the kernels read them, refused if NaN or infinite."""
    px, _, is_float, counts = _histogram(image, "input")
    _check_finite(counts, is_float, "input")
    return px


def percentiles(values: np.ndarray, ps: tuple[float, ...]) -> list[float]:
    """Exact percentiles (numpy's default 'linear' method) from parallel histogram passes.

    Examples
    --------
    >>> percentiles(np.arange(101, dtype=np.float32), (10, 50, 99.5))
    [10.0, 50.0, 99.5]
    """
    _, flat, is_float, counts = _histogram(values, "input")
    return _percentile_fn(counts, flat, is_float, "input")(tuple(ps))


def otsu_threshold(image: np.ndarray) -> float:
    """Otsu's threshold of an image over 256 equal bins between its minimum and maximum,
    from two parallel passes: ``skimage.filters.threshold_otsu`` of a float image (for
    integer images scikit-image bins each value, so its answer can differ by a bin).

    Examples
    --------
    >>> x = np.r_[np.full(600, 0.2), np.full(400, 0.8)].astype(np.float32)
    >>> 0.2 <= otsu_threshold(x) < 0.8
    True
    """
    return _otsu(_finite_pixels(image))


#: Li's threshold iterates on a histogram of this many equal bins between the image's
#: minimum and maximum.
_LI_BINS = 1 << 14


def li_threshold(image: np.ndarray) -> float:
    """Li's minimum cross-entropy threshold (``skimage.filters.threshold_li``: the
    iteration t <- (m_b - m_f) / (ln m_b - ln m_f), m_b and m_f the mean pixel at or below
    and above t, pixels shifted so the least is 0, started at the mean), iterated on a
    parallel histogram of 16384 bins, each pixel taken at its bin's centre: within two
    bins (1/8192 of the range) of the fixed point scikit-image iterates to, in 0.05 s
    instead of 1.3 s at 4096 x 4096.

    Examples
    --------
    >>> x = np.r_[np.full(600, 0.2), np.full(400, 0.8)].astype(np.float32)
    >>> 0.2 <= li_threshold(x) < 0.8
    True
    """
    counts, lo, hi = _equal_bins(_finite_pixels(image), _LI_BINS)
    if counts is None:
        return lo
    counts = counts.astype(np.float64)
    width = (hi - lo) / _LI_BINS
    centres = (np.arange(_LI_BINS) + 0.5) * width  # above the least pixel
    mass, moment = np.cumsum(counts), np.cumsum(counts * centres)
    t_next, t = float(moment[-1] / mass[-1]), -np.inf
    for _ in range(1000):  # converges linearly: stop well inside a bin
        if abs(t_next - t) <= width / 64:
            break
        t = t_next
        k = min(int(np.floor(t / width - 0.5)), _LI_BINS - 2)  # last bin centred at or below t
        if k < 0:
            break
        m_b, m_f = moment[k] / mass[k], (moment[-1] - moment[k]) / (mass[-1] - mass[k])
        if m_b == m_f:
            break
        t_next = (m_b - m_f) / (np.log(m_b) - np.log(m_f))
    return float(lo + t_next)


def two_phase_levels(image: np.ndarray) -> tuple[float, float, float]:
    """Otsu threshold t, median of the pixels at or below t, and 90th percentile of those
    above t: the levels of a two-phase image, exact, from a few parallel passes.

    Raises
    ------
    ParameterError
        When every pixel falls on one side of the threshold.

    Examples
    --------
    >>> x = np.r_[np.full(600, 0.2), np.full(400, 0.8)].astype(np.float32)
    >>> t, low, high = two_phase_levels(x)
    >>> round(low, 3), round(high, 3)
    (0.2, 0.8)
    """
    px, flat, is_float, counts = _histogram(image, "input")
    at = _rank_fn(counts, flat, is_float, "input")
    n = int(counts.sum())
    t = _otsu(px)
    n_low = int(np.count_nonzero(px <= t))  # the sorted pixels: n_low at or below t, then the rest
    if n_low == 0 or n_low == n:
        raise ParameterError("the image holds no contrast between two phases")
    low, high = at([(n_low - 1) * 0.5, n_low + (n - n_low - 1) * 0.9])
    return t, low, high


def _stretched_levels(bins: int, lo: float, scale: float) -> np.ndarray:
    """Each integer level 0..bins-1 stretched as the kernels stretch a pixel:
    ``clip((level - lo) * scale, 0, 1)`` (float64)."""
    stretched = np.arange(bins, dtype=np.float64)
    stretched -= lo
    stretched *= scale
    return np.clip(stretched, 0.0, 1.0, out=stretched)


def _byte_lut(bins: int, lo: float, scale: float, weights: np.ndarray) -> np.ndarray:
    """(3, bins) uint8: each integer value stretched and weighted per colour, as the kernel
    rounds it (``floor(v * 255 + 0.5)``, clipped)."""
    v = np.multiply.outer(weights, _stretched_levels(bins, lo, scale))
    v *= 255.0
    v += 0.5
    # in place, one pass each: a 16-bit table took 3 ms with nested np.where, now 0.3 ms
    return np.clip(np.floor(v, out=v), 0.0, 255.0, out=v).astype(np.uint8)


def _hsv_unit_value(stretched_bse: np.ndarray, threshold: float, opt: _Options) -> np.ndarray:
    """(K, 3) RGB of the density hue at value 1 for each stretched BSE level (float32)."""
    from matplotlib.colors import hsv_to_rgb

    x = np.clip((stretched_bse - (threshold - opt.transition)) / (2 * opt.transition), 0.0, 1.0)
    d = x * x * (3 - 2 * x)
    hue = ((opt.hues[0] + d * (opt.hues[1] - opt.hues[0])) / 360.0) % 1.0
    hsv = np.stack([hue, np.full_like(hue, _SATURATION), np.ones_like(hue)], axis=-1)
    return hsv_to_rgb(hsv).astype(np.float32)


def _rgb(shape: tuple[int, ...]) -> np.ndarray:
    return np.empty(tuple(shape) + (3,), dtype=np.uint8)


def _packed(lut: np.ndarray) -> np.ndarray:
    """(3, K) uint8 tables as one (K,) uint32 table ``R | G << 8 | B << 16``."""
    lut = lut.astype(np.uint32)
    return lut[0] | (lut[1] << 8) | (lut[2] << 16)


def colorize(
    se: np.ndarray,
    bse: np.ndarray,
    *,
    mode: Mode = "overlay",
    clip: tuple[float, float] = (0.5, 99.5),
    bse_color: tuple[float, float, float] = (1.0, 0.0, 0.0),
    se_color: tuple[float, float, float] = (0.0, 1.0, 0.0),
    green_gain: float = 1.0,
    palette: str = "green-orange",
    transition: float = 0.1,
) -> np.ndarray:
    """Colour an SE/BSE pair into a DDC-SEM image.

    Parameters
    ----------
    se : ndarray, shape (M, N)
        Secondary-electron image (InLens, SE2, ETD): topography.
    bse : ndarray, shape (M, N)
        Backscattered-electron image (EsB, AsB, BSD, CBS, vCD): density.
    mode : {"overlay", "density"}, optional
        ``overlay`` is the published method (BSE red + SE green, as ImageJ's Merge
        Channels); ``density`` takes hue from density and brightness from topography.
    clip : (float, float), optional
        Low and high percentiles each channel is stretched between; ``(0, 100)`` is
        min/max. Percentiles are exact (numpy's linear method) for every dtype.
    bse_color, se_color : (float, float, float), optional
        RGB weights of the stretched BSE and SE in ``overlay`` mode.
    green_gain : float, optional
        Scales the SE contribution; below 1 pushes particles from yellow to orange.
    palette : {"green-orange", "blue-orange"}, optional
        Hues of matrix and mineral in ``density`` mode; ``blue-orange`` is colour-blind safe.
    transition : float, optional
        Half-width, in stretched BSE units, of the matrix-to-mineral hue transition around
        the Otsu threshold (``density`` mode).

    Returns
    -------
    ndarray, shape (M, N, 3), uint8
        The DDC-SEM image.

    Raises
    ------
    ParameterError
        If the images differ in shape, are not 2-D, hold NaN/inf, or a channel is constant.

    Notes
    -----
    uint8 and uint16 are read as they are; float32 is read through a uint32 view of its
    bits; other dtypes are converted to float32 first (one copy). Memory beyond inputs and
    output: per-thread histograms (256 kB per thread for 16-bit data) and, from 8 Mpx on, a
    sample of 1/61 of each integer channel, on which the histogram tails that hold the clip
    percentiles are picked (only those tails are then counted; percentiles stay exact).

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> pair = make_pair(shape=(128, 128), seed=1)
    >>> rgb = colorize(pair.se, pair.bse)
    >>> rgb.shape, rgb.dtype
    ((128, 128, 3), dtype('uint8'))
    >>> inside = pair.labels > 0          # mineral: red and green both high -> orange
    >>> bool(rgb[inside, 0].mean() > 2 * rgb[~inside, 0].mean())
    True
    """
    from ._kernels.colorize import (
        chunks,
        histogram_stretched,
        write_density,
        write_density_lut,
        write_lut,
        write_lut_packed,
        write_overlay,
    )

    se, bse = _check_pair(se, bse)
    opt = _options(mode, clip, bse_color, se_color, green_gain, palette, transition)
    se_px, se_flat, se_float, se_bins = _prepare(se)
    bse_px, bse_flat, bse_float, bse_bins = _prepare(bse)
    counts_se, counts_bse = _clip_counts(
        (se_flat, bse_flat), (se_bins, bse_bins),
        (not se_float, not bse_float and opt.mode == "overlay"),  # density's Otsu reads all BSE
        opt.lo_pct, opt.hi_pct)
    se_lo, se_hi = _levels(opt.lo_pct, opt.hi_pct, "SE",
                           _percentile_fn(counts_se, se_flat, se_float, "SE"))
    bse_lo, bse_hi = _levels(opt.lo_pct, opt.hi_pct, "BSE",
                             _percentile_fn(counts_bse, bse_flat, bse_float, "BSE"))
    se_scale, bse_scale = 1.0 / (se_hi - se_lo), 1.0 / (bse_hi - bse_lo)
    # the output is allocated after the lookup tables, whose temporaries are gone by then:
    # the peak stays at inputs + output + a few MB
    if opt.mode == "overlay":
        separable = not np.any((opt.coef[:3] > 0) & (opt.coef[3:] > 0))
        if separable and not se_float and not bse_float:
            lut_se = _byte_lut(se_bins, se_lo, se_scale, opt.coef[3:])
            lut_bse = _byte_lut(bse_bins, bse_lo, bse_scale, opt.coef[:3])
            out = _rgb(se.shape)
            if se.shape[1] % 4 == 0 and sys.byteorder == "little":
                write_lut_packed(se_px, bse_px, _packed(lut_se), _packed(lut_bse),
                                 out.reshape(se.shape[0], -1).view(np.uint32))
            else:
                write_lut(se_px, bse_px, lut_se, lut_bse, out)
        else:
            out = _rgb(se.shape)
            write_overlay(se_px, bse_px, se_lo, se_scale, bse_lo, bse_scale, opt.coef, out)
        return out
    if bse_float:
        stretched_counts = histogram_stretched(bse_flat.view(np.float32), bse_lo, bse_scale,
                                               _OTSU_BINS, chunks(bse_flat.size))
    else:
        stretched_bse = _stretched_levels(bse_bins, bse_lo, bse_scale)
        bins = np.minimum(stretched_bse * _OTSU_BINS, _OTSU_BINS - 1).astype(np.int64)
        stretched_counts = np.bincount(bins, weights=counts_bse, minlength=_OTSU_BINS)
    t = otsu_threshold_hist(stretched_counts)
    if not se_float and not bse_float:
        value = 255 * (_MIN_VALUE + (1 - _MIN_VALUE) * _stretched_levels(se_bins, se_lo, se_scale))
        colour = _hsv_unit_value(stretched_bse, t, opt)
        out = _rgb(se.shape)
        write_density_lut(se_px, bse_px, value.astype(np.float32), colour, out)
    else:
        out = _rgb(se.shape)
        write_density(se_px, bse_px, se_lo, se_scale, bse_lo, bse_scale, t, opt.transition,
                      opt.hues[0], opt.hues[1], _SATURATION, _MIN_VALUE, out)
    return out
