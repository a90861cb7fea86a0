"""Colour separation: a per-pixel mineral density map in [0, 1].

Three sources give the same kind of map:

* a BSE image (of a pair, or alone with ``--single``): flat-fielded, denoised, and scaled by
  a two-phase model so that matrix is 0 and mineral 1 (:func:`density_map`);
* any grey image whose particles are brighter than their surroundings (same function);
* an existing DDC composite (Photoshop, Fiji, ``ddcsem colorize``): colour unmixing onto
  its orange (BSE, mineral) and green (SE, matrix) colours gives back the two images it
  was made of (:func:`unmix_composite`); the BSE part's map is the composite's
  (:func:`density_from_composite`), and ``ddcsem analyze`` treats the two parts as a pair.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ._filters import gaussian
from .errors import ParameterError, require_finite, require_image, require_positive, require_real, require_switch

__all__ = ["density_map", "density_from_composite", "unmix_composite", "estimate_basis", "flat_field"]


def _checked(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` as a 2-D array, in its own type, its float pixels checked finite."""
    image = require_image(image, name)
    require_finite(image, name)
    return image


def _constant(image: np.ndarray) -> bool:
    """Whether every pixel of ``image`` has one value (a sample of them tells most images)."""
    sample = image[::8, ::8]
    return bool(sample.min() == sample.max() and image.min() == image.max())


#: The types the flat field's division reads as they are (in the machine's byte order);
#: others are made float32 first (that copy of a 4096² 16-bit image took a third of its
#: flat field: 41 -> 27 ms; its density map 138 -> 127 ms). The quotient is the same.
FLAT_FIELD_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def flat_field(image: np.ndarray, *, sigma: float | None = None) -> np.ndarray:
    """Divide out slow shading: ``image / background`` with a robust smooth background.

    The background is a wide Gaussian of the image after the particles have been clipped
    to the local median, then refined as the smooth mean of the matrix pixels alone
    (those below Otsu's threshold of the first flat field), so that dense fields and fused
    clusters of particles do not lift it.

    An image with negative pixels (signed, or with a background subtracted already) has
    no zero of signal to divide from: its background is subtracted instead.

    Parameters
    ----------
    image : ndarray, shape (M, N)
        Grey image.
    sigma : float, optional
        Width of the background in pixels; default an eighth of the larger side.

    Returns
    -------
    ndarray of float32
        Image with mean about 1 (0, where it was subtracted) and the shading removed.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> shaded = 100.0 * (1 + xx / 64)          # brightness doubles across the field
    >>> flat = flat_field(shaded)
    >>> bool(np.ptp(flat[8:-8, 8:-8]) < 0.1)
    True
    """
    image = _checked(image, "image")
    return _flattened(image, None if sigma is None else require_positive(sigma, "sigma"),
                      subtract=_signed(image))


def _signed(image: np.ndarray) -> bool:
    """Whether ``image`` holds negative pixels: its zero is no zero of signal, so its flat
    field subtracts (a signed 16-bit image less 128 divided by its negative background
    was 92 % "darker than its matrix": synthetic pair F1 0.98 -> 0.85)."""
    return image.dtype.kind in "if" and bool(image.min() < 0)


def _flattened(x: np.ndarray, sigma: float | None, *, subtract: bool = False) -> np.ndarray:
    """The image ``x`` divided by its smooth background (:func:`flat_field`), or less it
    where ``subtract`` (float32); ``sigma``: the background's width, default an eighth of
    the larger side."""
    background = _background(x, max(x.shape) / 8.0 if sigma is None else sigma)
    if subtract:
        return _by_upsampled(x, background, 0.0, subtract=True)
    floor = max(1e-6, float(np.percentile(background, 1)) * 0.1)  # no division by ~0
    return _by_upsampled(x, background, floor)


def _background(x: np.ndarray, sigma: float) -> np.ndarray:
    """The smooth background of the image ``x`` (see :func:`flat_field`), on a coarse grid
    of every ``sigma // 8``-th pixel (float32)."""
    from scipy import ndimage

    # work on a coarse grid: the background is smooth, and this keeps 8k frames cheap
    step = max(1, int(sigma // 8))
    small = x[::step, ::step].astype(np.float32)
    size = max(3, int(2 * sigma / step) | 1)
    clipped = np.minimum(small, ndimage.median_filter(small, size=min(size, 31), mode="reflect"))
    background = ndimage.gaussian_filter(clipped, sigma / step, mode="reflect")
    return _matrix_background(small, background, sigma / step)


def _by_upsampled(image: np.ndarray, coarse: np.ndarray, floor: float, *, subtract: bool = False) -> np.ndarray:
    """``image / max(background, floor)``, or ``image - background`` where ``subtract``
    (float32), the background upsampled from ``coarse`` bilinearly with corners on corners
    (scipy's zoom, order 1) on the fly."""
    from ._kernels import as_taken
    from ._kernels.separate import by_upsampled

    coarse = np.asarray(coarse, dtype=np.float32)
    # a single row or column is constant along that axis: repeat it to interpolate
    coarse = np.pad(coarse, [(0, int(n == 1)) for n in coarse.shape], mode="edge")
    row_left, row_frac = _linear_positions(image.shape[0], coarse.shape[0])
    col_left, col_frac = _linear_positions(image.shape[1], coarse.shape[1])
    image = as_taken(image, FLAT_FIELD_TYPES, np.float32)
    return by_upsampled(image, np.ascontiguousarray(coarse),
                        row_left, row_frac, col_left, col_frac, np.float32(floor), subtract,
                        np.empty(image.shape, dtype=np.float32))


#: The matrix-only background needs at least this fraction of matrix samples.
MIN_MATRIX_FRACTION = 0.2


def _matrix_background(samples: np.ndarray, first: np.ndarray, sigma: float) -> np.ndarray:
    """The smooth mean of the matrix samples alone (a normalised convolution).

    The first estimate clips each sample to its local median, which a fused cluster of
    particles covering most of the window still lifts, dimming every particle around it
    (crowded synthetic field: 33 of 473 particle centres fell below the threshold). The
    matrix is the samples darker than Otsu's threshold both of ``samples / first`` and of
    the samples themselves (less the shading's plane, where it is strong: else the
    bright side of a shaded field held no matrix, and its background, taken from the dark
    side, left its matrix near the threshold: the tiny synthetic field at half the signal
    in one corner scored F1 0.600, now 0.887); where they are too sparse nearby (weight
    under 0.05), or under ``MIN_MATRIX_FRACTION`` of all, the first estimate stands. The
    ratio alone let the particles of a lifted window pass for matrix where the matrix is
    near black (an export stretched to its percentiles): there the lift is several times
    the matrix level, so division left the clusters' particles under the threshold
    (crowded field exported so: F1 0.78 against 0.97 from the raw counts; with both tests
    0.975).
    """
    from scipy import ndimage

    from .colorize import otsu_threshold

    ratio = samples / np.maximum(first, np.float32(1e-6))
    dark = ratio <= otsu_threshold(ratio)
    level = _detrended(samples, dark)
    matrix = (dark & (level <= otsu_threshold(level))).astype(np.float32)
    if matrix.mean() < MIN_MATRIX_FRACTION:
        return first
    weight = ndimage.gaussian_filter(matrix, sigma, mode="reflect")
    total = ndimage.gaussian_filter(samples * matrix, sigma, mode="reflect")
    return np.where(weight > 0.05, total / np.maximum(weight, np.float32(0.05)), first).astype(np.float32)


#: Shading that changes the matrix level by at least this fraction across the field (as
#: the plane fitted to it reads it) is taken off before the matrix is told from the
#: particles by brightness (see :func:`_matrix_background`).
SHADING_FRACTION = 0.3


def _detrended(samples: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """``samples`` less the plane fitted to the ``dark`` ones (least squares), where that
    plane falls by ``SHADING_FRACTION`` of its top or more across the field; else
    ``samples`` as they are."""
    rows, cols = np.mgrid[0:samples.shape[0], 0:samples.shape[1]]
    design = np.stack([np.ones(samples.size), rows.ravel(), cols.ravel()], axis=1)
    dark = dark.ravel()
    if np.count_nonzero(dark) < 3:
        return samples
    coef = np.linalg.lstsq(design[dark], samples.ravel()[dark].astype(np.float64), rcond=None)[0]
    plane = (design @ coef).reshape(samples.shape)
    top = float(plane.max())
    if not top > 0 or (top - float(plane.min())) / top < SHADING_FRACTION:
        return samples
    return (samples - plane).astype(np.float32)


def _linear_positions(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of n_out samples, ends aligned on n_in >= 2: the sample before it and the
    weight of the one after."""
    at = np.arange(n_out) * ((n_in - 1) / max(n_out - 1, 1))
    left = np.minimum(at.astype(np.int64), n_in - 2)
    return left, (at - left).astype(np.float32)


#: The matrix's level is known where its smooth background was divided out (1) or
#: subtracted (0, a composite's). Where the class under Otsu's threshold lies below that
#: level by more than ``DARKER_THAN_MATRIX`` of its distance to the mineral's, it is darker
#: than the matrix (cracks, pores, holes through a section, as calcified tissue holds
#: them), and the two phases are those above it. Taken for the matrix, such a class made
#: the matrix mineral: the tiny-sphere scenario with cracks over 3-10 % of it (at a fifth
#: of the matrix's signal) scored F1 0 as a pair, its BSE image and its composite (0.93,
#: 0.86 and 0.93 without cracks); now 0.85-0.92, 0.80-0.85 and 0.87-0.90. Without
#: cracks, that class (the matrix) lies within 0.02 of that distance of the level.
DARKER_THAN_MATRIX = 0.25


def _two_phase(x: np.ndarray, clip: bool = True, *, matrix_at: float | None = None) -> tuple[np.ndarray, float]:
    """Scale so the matrix level maps to 0 and the mineral level to 1 (clipped to [0, 1]);
    ``matrix_at``: the matrix's level, where a flat field set it (see
    ``DARKER_THAN_MATRIX``). Returns the map and the fraction of the pixels set aside as
    darker than the matrix (0 where none)."""
    from .colorize import two_phase_levels

    threshold, matrix, mineral = two_phase_levels(x)
    dark = 0.0
    if matrix_at is not None and matrix < matrix_at - DARKER_THAN_MATRIX * (mineral - matrix):
        rest = x[x > threshold]
        dark = 1.0 - rest.size / x.size
        _, matrix, mineral = two_phase_levels(rest)
    if mineral <= matrix:
        raise ParameterError("the image holds no contrast between two phases")
    out = np.subtract(x, np.float32(matrix), dtype=np.float32)
    out *= np.float32(1.0 / (mineral - matrix))
    return (np.clip(out, 0.0, 1.0, out=out) if clip else out), dark


def density_map(
    bse: np.ndarray,
    *,
    flatfield: bool = True,
    flatfield_sigma: float | None = None,
    denoise_sigma: float = 1.0,
    clip: bool = True,
) -> np.ndarray:
    """Mineral density map of a BSE image, or of any image with bright particles.

    Parameters
    ----------
    bse : ndarray, shape (M, N)
        BSE image (density contrast), or a single grey micrograph whose particles are
        brighter than their surroundings.
    flatfield : bool, optional
        Remove slow shading first (see :func:`flat_field`).
    flatfield_sigma : float, optional
        Width of the shading background in pixels.
    denoise_sigma : float, optional
        Gaussian denoising in pixels (0 to skip).
    clip : bool, optional
        Clip to [0, 1]. Unclipped, the map keeps the contrast of what lies beyond the two
        levels (the brightest tenth of the particles, fused aggregates), which edge
        detection needs.

    Returns
    -------
    ndarray of float32, shape (M, N)
        0 for matrix, 1 for mineral, linear in between (a two-phase model fitted to the
        image: matrix level = median below the Otsu threshold, mineral level = 90th
        percentile above it; with the flat field, of the pixels above a class that lies
        well below the matrix's level, cracks or pores: see ``DARKER_THAN_MATRIX``).

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> pair = make_pair(shape=(128, 128), seed=0)
    >>> d = density_map(pair.bse)
    >>> bool(d[pair.labels > 0].mean() > 0.6 and d[pair.labels == 0].mean() < 0.2)
    True
    """
    clip = require_switch(clip, "clip", hint="whether the map is clipped to [0, 1]: colorize's clip percentiles do "
                          "not apply here" if isinstance(clip, (tuple, list)) else None)
    return _density(bse, flatfield=require_switch(flatfield, "flatfield"), flatfield_sigma=flatfield_sigma,
                    denoise_sigma=denoise_sigma, clip=clip)[0]


def _density(bse: np.ndarray, *, flatfield: bool = True, flatfield_sigma: float | None = None,
             denoise_sigma: float = 1.0, clip: bool = True, subtract: bool = False,
             name: str = "bse", blank: bool = False) -> tuple[np.ndarray, float]:
    """:func:`density_map`, its flat field a subtraction where ``subtract`` (a composite's:
    see :func:`density_from_composite`) or where the image holds negative pixels, and the
    fraction of the image darker than its matrix (see ``DARKER_THAN_MATRIX``); ``name``:
    the image's in errors and warnings. A constant image is refused, or where ``blank``
    (an analysis's field, which a region may have drawn there) mapped to 0 with a warning
    from the caller's caller: no particles."""
    x = _checked(bse, name)
    if _constant(x):  # else the flat field's rounding (1 - 6e-8 beside 1) passed for two phases
        if not blank:
            raise ParameterError(f"{name} is constant ({x.flat[0]:g}): it holds no contrast between two phases",
                                 hint="check that the right image was given")
        warnings.warn(f"{name} is constant ({x.flat[0]:g}): it holds no particles", stacklevel=3)
        return np.zeros(x.shape, np.float32), 0.0
    if flatfield:
        sigma = None if flatfield_sigma is None else require_positive(flatfield_sigma, "flatfield_sigma")
        subtract = subtract or _signed(x)
        x = _flattened(x, sigma, subtract=subtract)
    else:
        x = x.astype(np.float32, copy=False)
    if require_positive(denoise_sigma, "denoise_sigma", zero=True):  # 0: no denoising
        x = gaussian(x, denoise_sigma)
    return _two_phase(x, clip, matrix_at=(0.0 if subtract else 1.0) if flatfield else None)


#: The basis colours are the mean of the pixels beyond this percentile at either end of
#: the pixel cloud's chromaticities (see :func:`estimate_basis`).
BASIS_PERCENTILE = 99.9
#: :func:`estimate_basis` looks at every k-th pixel of larger images, k chosen to leave
#: about this many.
BASIS_SAMPLES = 1_000_000


#: The SE end of a composite's pixel cloud is its SE colour only where some pixels show
#: that colour alone (its BSE image black there). An overlay whose channels were not
#: stretched to black (8-bit images merged by Fiji's *Merge Channels*, their display range
#: 0-255) has none: its BSE image's matrix is still about 40 % of its particles' level, so
#: the cloud's green end was a fifth red, unmixing took the SE rims for lower density, and
#: the synthetic scenarios' overlays so made were sized 7-13 % small (median ECD error).
#: The SE colour is then taken on, along the arc of the cloud's colours away from the BSE
#: one, to the first of grey and the colour where a channel reaches zero (a saturated one,
#: as DDC palettes and Fiji's lookup tables make them), where that lies within
#: ``BASIS_REACH_DEG`` of the end (the same overlays: 1.0-7.3 %, as their pairs measure),
#: unless ``PURE_SHARE`` of the bright pixels lie within ``SAME_COLOUR_DEG`` of the end:
#: there the colour is seen alone (the matrix of a density colouring is painted in it,
#: 18-92 % of its pixels; an overlay's cloud thins out to its ends, 0.1 % or less).
#: Channels merged as they are, not stretched at all, end further off: synthetic pairs
#: so merged red-green and magenta-green ended up to 40 degrees short. Of the six
#: synthetic scenarios merged red-green, magenta-green and orange-green, at 35 degrees they
#: measured median ECD errors to 22 % (magenta-green) and F1 0.77 (the tiny field); at
#: 50, to 7.5 % and 0.91, as their pairs. The reach costs composites painted in pale,
#: unsaturated SE colours, which it takes on to a saturated one: F1 0.982 -> 0.973 (their
#: ECD errors 6.8 -> 6.4 %); give their colours (``basis``).
BASIS_REACH_DEG = 50.0
PURE_SHARE = 0.02
SAME_COLOUR_DEG = 1.0


def _hex(colour: np.ndarray) -> str:
    """A colour of unit length as ``#rrggbb``, its largest channel at full scale."""
    return "#" + "".join(f"{round(255 * v / max(float(colour.max()), 1e-12)):02x}" for v in colour)


def _se_colour(bse: np.ndarray, end: np.ndarray, units: np.ndarray) -> np.ndarray:
    """The SE colour of a composite whose pixel cloud (``units``, its bright pixels'
    colours of unit length) ends at ``end`` on that side and at ``bse`` on the other (see
    ``BASIS_REACH_DEG``)."""
    same = np.cos(np.radians(SAME_COLOUR_DEG))
    if not np.any(end) or np.mean(units @ end >= same) >= PURE_SHARE:  # (black: a grey image's)
        return end
    away = bse - (bse @ end) * end  # along the arc, away from the BSE colour
    away /= max(float(np.linalg.norm(away)), 1e-12)
    reach = min((float(np.arctan2(end[k], away[k])) for k in range(3) if away[k] > 1e-9), default=np.inf)
    grey = np.full(3, 1 / np.sqrt(3))
    if abs(grey @ np.cross(end, away)) < np.sin(np.radians(SAME_COLOUR_DEG)):  # grey on the arc
        at = float(np.arctan2(-(grey @ away), grey @ end))
        reach = at if 0.0 <= at < reach else reach
    if reach > np.radians(BASIS_REACH_DEG):
        return end
    colour = np.maximum(np.cos(reach) * end - np.sin(reach) * away, 0.0)
    return colour / np.linalg.norm(colour)


#: The BSE colour is the one with the larger share of red; where the two colours' shares
#: differ by less than this, neither is (green and blue: a composite made with other
#: colours, or its channels reversed), and the choice is warned about. DDC's palettes
#: differ by 0.29 (orange over grey) to 0.71 (red over cyan).
RED_SHARE_MARGIN = 0.1


def estimate_basis(rgb: np.ndarray) -> np.ndarray:
    """Estimate the orange (BSE, mineral) and green (SE, matrix) colours of a DDC composite.

    A composite adds a BSE image in one colour and an SE image in another, so every
    pixel is a non-negative mix of the two: its chromaticity (its colour over its
    brightness) lies on the line between theirs, and the basis colours are the two ends
    of the pixel cloud along it (its principal axis). Each is the mean of the reasonably
    bright pixels beyond the ``BASIS_PERCENTILE`` at that end. Means of wider sets (the
    top 5 %) lie inside the cloud: the green of a Merge Channels overlay came out a
    quarter red, so unmixing took the SE brightness of the particles' rims for lower
    density, and particles came out 7-13 % small in ECD. Where no pixel shows the SE
    colour alone (an overlay not stretched to black), the cloud ends short of it, and it
    is taken on to the saturated colour or grey beyond (see ``BASIS_REACH_DEG``). Any two
    colours will do (red and green, magenta and green, orange and blue); the BSE one is
    the end with the larger share of red, as in every DDC convention, and where neither
    is (green and blue), a warning says which was taken (see ``RED_SHARE_MARGIN``).

    Parameters
    ----------
    rgb : ndarray, shape (M, N, 3)
        The composite, in any scale; larger images are sampled (``BASIS_SAMPLES``).

    Returns
    -------
    ndarray, shape (2, 3)
        Row 0 the BSE colour (orange, or red), row 1 the SE colour (green), each of unit
        length.

    Warns
    -----
    UserWarning
        If the two colours hold about as much red as each other, naming the colours to
        give as ``basis`` (``--basis``) for the other choice.

    Examples
    --------
    >>> rgb = np.zeros((10, 10, 3)); rgb[:5] = (1.0, 0.5, 0.0); rgb[5:] = (0.0, 0.6, 0.0)
    >>> np.round(estimate_basis(rgb), 2)
    array([[0.89, 0.45, 0.  ],
           [0.  , 1.  , 0.  ]])
    >>> rgb[5:] = (0.0, 0.45, 0.7)  # the colour-blind palette's blue for the SE image
    >>> np.round(estimate_basis(rgb), 2)
    array([[0.89, 0.45, 0.  ],
           [0.  , 0.54, 0.84]])
    """
    rgb = np.asarray(rgb)
    pixels = rgb.reshape(-1, rgb.shape[-1])
    # a million pixels tell the colours as well as all of them (0.1 s, not 2 s, at 4096²)
    px = pixels[::max(1, len(pixels) // BASIS_SAMPLES), :3].astype(np.float64)
    if not px.any():  # its colours were taken for #000000 and #000000
        raise ParameterError("the composite is black: it holds no colours", hint="check that the right file was given")
    total = px.sum(axis=1)
    bright = total >= np.percentile(total, 20)
    px, total = px[bright], total[bright]
    chroma = px / np.maximum(total, 1e-12)[:, None]
    chroma -= chroma.mean(axis=0)
    along = chroma @ np.linalg.svd(chroma, full_matrices=False)[2][0]
    basis = []
    for end in (along >= np.percentile(along, BASIS_PERCENTILE),
                along <= np.percentile(along, 100 - BASIS_PERCENTILE)):
        colour = px[end].mean(axis=0)
        basis.append(colour / max(np.linalg.norm(colour), 1e-12))
    basis = np.array(basis)
    if basis[0, 0] / max(basis[0].sum(), 1e-12) < basis[1, 0] / max(basis[1].sum(), 1e-12):
        basis = basis[::-1]  # the BSE colour first: the redder end
    if abs(np.dot(basis[0], basis[1])) > 0.995:
        raise ParameterError("the composite does not hold two distinct colours (orange and green)")
    units = px / np.maximum(np.linalg.norm(px, axis=1), 1e-12)[:, None]
    basis = np.array([basis[0], _se_colour(basis[0], basis[1], units)])
    red = basis[:, 0] / np.maximum(basis.sum(axis=1), 1e-12)
    if red[0] - red[1] < RED_SHARE_MARGIN:
        named = [_hex(colour) for colour in basis]
        warnings.warn(f"the composite's two colours, {named[0]} and {named[1]}, hold about as much red as each "
                      f"other, where the BSE image's is the redder (DDC's orange or red): {named[0]} was taken "
                      "for it; if the particles come out as the matrix, give the colours, BSE first "
                      f"(--basis {named[1]} {named[0]})", stacklevel=2)
    return basis


def unmix_composite(rgb: np.ndarray, *, basis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The BSE and SE images a DDC composite was made of, by colour unmixing.

    Each pixel is written as ``a * orange + b * green`` (least squares); ``a`` is the
    BSE part, ``b`` the SE part, both clipped at 0.

    Parameters
    ----------
    rgb : ndarray, shape (M, N, 3)
        The composite (any numeric type; an alpha channel is ignored).
    basis : ndarray, shape (2, 3), optional
        BSE (orange) and SE (green) colours; estimated from the image by
        :func:`estimate_basis` when omitted.

    Returns
    -------
    bse, se : ndarray of float32, shape (M, N)

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> from ddcsem.colorize import colorize
    >>> pair = make_pair(shape=(128, 128), seed=0)
    >>> bse, se = unmix_composite(colorize(pair.se, pair.bse))
    >>> bool(np.corrcoef(bse.ravel(), pair.bse.ravel())[0, 1] > 0.95)
    True
    """
    bse, se, _, _ = _unmix(rgb, basis)
    return bse, se


#: A pixel of a composite is an annotation (a burned-in scale bar, white or grey text)
#: where no mix of the two colours explains its colour: the part left over is more than
#: ``ANNOTATION_SHARE`` of the colour and more than ``ANNOTATION_LEVEL`` of full scale.
#: White leaves 0.58 of itself (its blue, which neither colour has) at full scale: 1.16
#: times this double bar. JPEG's colour noise in ``colorize``'s composites (both modes,
#: both palettes, quality 30-95) reaches 0.88 of it (its share alone up to 0.80 where it
#: is 0.3 of full scale, its level alone up to 0.61 where it is 0.3 of the colour).
#: A scale bar and its label drawn in a colour that a mix of the two gives (yellow, or the
#: BSE colour itself, orange or red) are found as in a grey image (``read.BAR_MIN_LENGTH``),
#: on the composite's brightest channel: such a bar and its letters had been measured as
#: particles.
ANNOTATION_SHARE = 0.5
ANNOTATION_LEVEL = 0.6
#: ... and the black box under such marks is one too: pixels under ``ANNOTATION_BLACK`` of
#: full scale in every channel, beside the marks and clear of the frame, that fill at
#: least ``ANNOTATION_BOX_FILL`` of their bounding box (the marks in it included) and
#: hold ``ANNOTATION_BOX_PX`` pixels or more. The box of ``colorize``'s PNG preview fills
#: all of its box (1304 px); the black specks of a DDC overlay of the synthetic pairs hold
#: at most 18 px (the density colouring has none).
ANNOTATION_BLACK = 0.01
ANNOTATION_BOX_FILL = 0.9
ANNOTATION_BOX_PX = 100
#: An image's frame, no part of the field: the rows and columns along its edges that
#: each hold one colour (an 8-bit image's, as JPEG's noise leaves them, every channel
#: within ``FRAME_TOLERANCE`` of full scale; a deeper one's exactly), as a
#: figure panel cut with a white margin has, where at most ``FRAME_FIELD_SHARE`` of the
#: field inside holds those colours (an image whose matrix was clipped to black has rows
#: of it along its edges too, and much of it inside). A composite's margin, off the line
#: between the two basis colours, would tilt their estimate: a white margin of a fifth of
#: the image turned the particles' orange into "annotations". The real files of the
#: reference set have none.
FRAME_TOLERANCE = 0.03
FRAME_FIELD_SHARE = 0.05


def _channels(image: np.ndarray) -> np.ndarray:
    """An image's colour channels, (M, N, 3), or its grey as one, (M, N, 1); a mask's as 0
    and 255, as :func:`ddcsem.read_sem` reads a 1-bit file (``np.ptp`` refuses bool)."""
    rgb = np.asarray(image)
    rgb = rgb.astype(np.uint8) * np.uint8(255) if rgb.dtype == bool else rgb
    return rgb[..., :3] if rgb.ndim == 3 else rgb[..., None]


def _frame(image: np.ndarray) -> tuple[int, int, int, int]:
    """The widths (top, bottom, left, right, px) of a plain frame around an image (grey, or
    a composite), rows and columns each of one colour (see ``FRAME_TOLERANCE``); none if
    the whole image is one, or the field inside holds much of its colours."""
    rgb = _channels(image)
    # JPEG, 8-bit only, blurs a margin's edge a little; any deeper image is lossless, and a
    # tolerance of its full scale would take a 12-bit field stored in 16 bits for plain
    tol = FRAME_TOLERANCE * 255 if rgb.dtype == np.uint8 else 0.0

    def run(line, count: int) -> int:
        """How many of the ``count`` lines ``line(0)``, ``line(1)``, ... are each of one colour
        (one by one from the edge: an image without a frame is done at its first)."""
        n = 0
        while n < count and float(np.ptp(line(n), axis=0).max()) <= tol:
            n += 1
        return n

    rows, cols = rgb.shape[:2]
    top = run(lambda i: rgb[i], rows)
    bottom = run(lambda i: rgb[rows - 1 - i], rows - top)
    if top + bottom >= rows:
        return 0, 0, 0, 0
    left = run(lambda i: rgb[top:rows - bottom, i], cols)
    right = run(lambda i: rgb[top:rows - bottom, cols - 1 - i], cols - left)
    if left + right >= cols:
        return 0, 0, 0, 0
    if left or right:  # a side strip of another colour hides the rows' own frame
        top = run(lambda i: rgb[i, left:cols - right], rows)
        bottom = run(lambda i: rgb[rows - 1 - i, left:cols - right], rows - top)
    if not (top or bottom or left or right):
        return 0, 0, 0, 0
    # the frame's colours (each line is of one, and most lines of the same few)
    colours = np.concatenate([rgb[:top, 0], rgb[rows - bottom:, 0], rgb[0, :left], rgb[0, cols - right:]])
    colours = np.unique(colours.astype(np.float64) if not tol else np.round(colours / tol) * tol, axis=0)
    field = rgb[top:rows - bottom:4, left:cols - right:4].reshape(-1, rgb.shape[-1]).astype(np.float32)
    near = np.zeros(len(field), dtype=bool)
    for colour in colours[:64]:  # a margin has one or two; a ramp of them would be no margin
        near |= np.abs(field - colour.astype(np.float32)).max(axis=1) <= tol
    return (top, bottom, left, right) if near.mean() <= FRAME_FIELD_SHARE else (0, 0, 0, 0)


def _frame_mask(image: np.ndarray, *, dark_particles: bool = False) -> np.ndarray:
    """The pixels of the plain frame around an image (see :func:`_frame`), of the plain
    white or black areas in it (see :func:`_plain_area`) and of its white or black seams
    (see :func:`_seams`: a stitched image's gaps, a scan line saturated across it; no black
    area or seam in an image of ``dark_particles``, where black may be an agglomerate's
    clipped core), bool (M, N). A
    binary mask (Fiji's *Convert to Mask*, a 1-bit file: every pixel 0 or one other value,
    see :func:`_is_binary`) has none: its black is its background, to the border, and its
    full scale its particles, which read as a background painted out (four discs of a
    mask: "the SE image is constant")."""
    rows, cols = np.shape(image)[:2]
    if _is_binary(image):
        return np.zeros((rows, cols), dtype=bool)
    top, bottom, left, right = _frame(image)
    frame = np.ones((rows, cols), dtype=bool)
    frame[top:rows - bottom, left:cols - right] = False
    shades = (True, False) if not dark_particles else (True,)
    for white in shades:
        plain = _plain_area(image, frame, white=white)
        if plain is not None:
            frame = frame | plain
    seams = _seams(image, frame, shades=shades)
    return frame if seams is None else frame | seams


def _is_binary(image: np.ndarray) -> bool:
    """Whether every pixel (every channel) of an unsigned-integer ``image`` is 0 or one
    other value (full scale, as Fiji saves a mask, or 1, as numpy's ``mask.astype(np.uint8)``),
    and both occur."""
    data = np.asarray(image)
    if data.dtype.kind != "u" or not data.size:
        return False
    top = data.max()
    if data.min() != 0 or top == 0:
        return False
    sample = data[::16, ::16]  # a micrograph shows its grey levels at once; a mask is read whole
    return not np.any((sample > 0) & (sample < top)) and not np.any((data > 0) & (data < top))


#: The share of the image outside a plain area (see :func:`_plain_area`) that the parts it
#: encloses may hold, less the largest: a matrix clipped to black encloses most particles.
PLAIN_ENCLOSED = 0.25


def _plain_area(image: np.ndarray, frame: np.ndarray, *, white: bool) -> np.ndarray | None:
    """A broad area of an image (grey, or a composite) inside its ``frame``, ``white``
    (every channel at full scale) or black (every channel at the image's lowest level),
    within ``FRAME_TOLERANCE`` for 8 bits, as JPEG leaves it, that reaches the image's edge
    (or its frame's) and encloses no part of the image but the sample: a figure's
    background painted out around the sample (white), or the padding of a rotated,
    registered or stitched image (black: its corners, a mosaic's missing tile). Widened by
    two pixels for its edge; None where there is none.

    Broad as an area off the sample is (see ``OFF_SAMPLE_WIDTH``), where a particle's
    clipped top is not, or a straight-edged strip along the edge (see
    ``EDGE_STRIP_LENGTH``): the corners of an image turned by a few degrees. A matrix
    exported clipped to black, or a bright background
    clipped to white around dark particles, is as broad, but encloses its particles one
    by one: besides the largest part it encloses (the sample, where a padding rings it),
    the others hold more than ``PLAIN_ENCLOSED`` of what it does not cover (a few islands
    of debris left in a background painted out, far less). A pore clipped black within
    the field reaches no edge, and stays the field's.

    Measured as a particle, a seventh of a synthetic field painted white made a grey
    image's mineral fraction 0.20 for 0.07, and tilted a composite's colours: 11
    particles found where the rest holds 89 (now 84 and 89, as a region drawn around the
    rest gives). Analysed as the field, the padding of a synthetic field turned by 7
    degrees (22 % of the image) was taken for its matrix, and the matrix for mineral
    (0.81 of the field): one particle was found in the pair, none in its BSE image alone,
    and 45 in its composite, where the field unturned holds 40 away from its border (now
    39, 39 and 40, as a region drawn around the padding gives). None of the synthetic
    scenarios, nor their exports clipped at either end, nor the reference set's files
    has one."""
    from scipy import ndimage

    from .read import _brightest, _darkest

    rgb = _channels(image)
    if min(rgb.shape[:2]) < OFF_SAMPLE_MIN_SIDE:
        return None
    tol = FRAME_TOLERANCE * 255 if rgb.dtype == np.uint8 else 0.0

    def plain(pixels: np.ndarray, level: float) -> np.ndarray:
        return _darkest(pixels) >= level - tol if white else _brightest(pixels) <= level + tol

    def level(pixels: np.ndarray) -> float:
        if not white:
            return float(np.min(pixels))
        return float(np.iinfo(pixels.dtype).max) if pixels.dtype.kind in "ui" else float(np.max(pixels))

    sample = rgb[::8, ::8]  # (where most end: an area broad enough shows in it, at its level)
    lowest = level(sample)
    # a strip 2 px deep or more (see EDGE_STRIP_LENGTH) shows in the second line along an edge
    lines = (rgb[1], rgb[-2], rgb[:, 1], rgb[:, -2])
    if (np.mean(plain(sample, lowest)) < OFF_SAMPLE_MIN_SHARE / 2
            and max(np.mean(plain(line, lowest)) for line in lines) < EDGE_STRIP_LENGTH):
        return None
    candidates = plain(rgb, level(rgb)) & ~frame
    broad, strips = _broad_area(candidates), None
    rows, cols = np.flatnonzero(~frame.all(axis=1)), np.flatnonzero(~frame.all(axis=0))
    if rows.size:  # strips along the edges of what the frame's rows and columns leave
        inside = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        if (edge := _edge_strips(candidates[inside])) is not None:
            strips = np.zeros_like(candidates)
            strips[inside] = edge
    area = strips if broad is None else broad if strips is None else broad | strips
    if area is None:
        return None
    rim = np.ones(area.shape, dtype=bool)  # within 3 px of the image's edge, or of its frame
    rim[3:-3, 3:-3] = ndimage.binary_dilation(frame, iterations=3)[3:-3, 3:-3] if frame.any() else False
    area = _touching(area, rim)
    rest = np.count_nonzero(~area & ~frame)  # (none: an image all black or all white, no field)
    # what it encloses: the parts of the rest that reach no edge of the image
    parts, _ = ndimage.label(~area)
    edge = np.unique(np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]]))
    enclosed = np.bincount(parts.ravel())
    enclosed[edge] = 0
    enclosed[0] = 0  # (the area itself)
    if not area.any() or not rest or enclosed.sum() - enclosed.max() > rest * PLAIN_ENCLOSED:
        return None
    return ndimage.binary_dilation(area, iterations=2) & ~frame


#: A seam of a stitched image, where no tile was (a gap between tiles placed edge to
#: edge): a straight line at the image's lowest level (a composite's luma; within
#: ``SEAM_TOLERANCE`` of full scale for 8 bits), along a row or a column for
#: ``SEAM_LENGTH`` of the image or more (and 64 px), at most ``SEAM_WIDTH`` px wide, at
#: least ``SEAM_FILL`` of the rectangle it spans at that level, with the image beside it
#: on either side standing off that level (above it, or below a white one: at most
#: ``SEAM_FLANK`` of the line along each side at it: a matrix clipped to black goes on at
#: its level around the particles), and reaching the image's edge, its frame (a mosaic's
#: padding) or another seam (a black scale bar drawn into the image, as thin and as
#: straight, reaches none of them). A white one, at the image's highest level, is a scan
#: line saturated across it (a discharge): with three across both channels of 16
#: synthetic fields analysed as the field, against a region drawn around them, the number
#: density came out 3.8 % low (SD 2.9 %) and the D50 1.3 % high (SD 1.8 %); left out, the
#: region's. No white seam is found in the images below (696 in all), nor in their
#: exports clipped at the top (1-20 % of the field white), brightened or inverted.
#:
#: JPEG rings beside a thin line, and blurs a composite's colours into it where it halves
#: their resolution (4:2:0, as most writers do): taken in every channel within
#: ``FRAME_TOLERANCE``, no seam was found in synthetic composites saved at quality 95; in
#: the brightest channel within 0.1, 16-100 % of it (4:2:0); in the luma within 0.1, all
#: of it at quality 75-95, either way.
#:
#: Analysed as the field, two such seams 2 px wide across a synthetic field cut the
#: spheres on them in two, each half a particle: over 16 fields, against each field
#: without them, the number density came out 2.5 % high (SD 1.0 %) and the D50 1.6 %
#: small (SD 1.0 %, at most 3.9 %). Left out, as a region drawn around them is, with
#: their edges for the field's border, +0.9 % (SD 1.9 %: fewer particles are counted) and
#: -0.3 % (SD 0.9 %, at most 2.9 %; ``python benchmarks/seams.py``): the weights count a
#: stationary pattern of discs less such bands without bias (0.9999 ± 0.0015,
#: ``benchmarks/edge_weights.py``), but the synthetic fields hold fewer spheres near their
#: border, which the two estimates weigh differently. No seam is found in
#: the synthetic scenarios (three fields each, and at 20 keV), in their composites, in
#: their BSE images clipped to black (30-80 % of the field), in those composites dimmed,
#: in either saved as JPEG (quality 75), nor in the reference set's files.
SEAM_TOLERANCE = 0.1
SEAM_LENGTH = 1 / 8
SEAM_WIDTH = 16
SEAM_FILL = 0.9
SEAM_FLANK = 0.5


def _seams(image: np.ndarray, frame: np.ndarray, *, shades: tuple[bool, ...] = (False,)) -> np.ndarray | None:
    """The seams of a stitched image (grey, or a composite) inside its ``frame`` (see
    ``SEAM_LENGTH``), of the ``shades`` asked: black (False), white (True: at its highest
    level, a scan line saturated across it), widened by two pixels for their edges as a
    plain area is, bool; None where there are none."""
    from scipy import ndimage

    from .read import _luminance

    rgb = _channels(image)
    if min(rgb.shape[:2]) < OFF_SAMPLE_MIN_SIDE:
        return None
    grey = rgb[..., 0] if rgb.shape[-1] == 1 else _luminance(rgb, np.float32)  # (a composite's: see SEAM_TOLERANCE)
    tol = SEAM_TOLERANCE * 255 if rgb.dtype == np.uint8 else 0.0
    seams = np.zeros(grey.shape, dtype=bool)
    for white in shades:  # (one luma of a composite for both)
        if white:
            plain = grey >= _in_type(float(np.max(grey)) - tol, grey.dtype, np.ceil)
        else:
            plain = grey <= _in_type(float(np.min(grey)) + tol, grey.dtype, np.floor)
        if frame.any():
            plain &= ~frame
        _seam_rows(plain, seams, _may_hold_seams(plain, 1))
        _seam_rows(plain.T, seams.T, _may_hold_seams(plain, 0))
    if not seams.any():
        return None
    ends = ndimage.binary_dilation(frame) if frame.any() else np.zeros(frame.shape, dtype=bool)
    ends[[0, -1]] = ends[:, [0, -1]] = True
    seams = _touching(seams, ends)  # (a black bar drawn into the image, a scale bar, reaches none)
    return ndimage.binary_dilation(seams, iterations=2) & ~frame if seams.any() else None


def _in_type(level: float, dtype: np.dtype, rounding: Callable[[float], float]) -> float | np.generic:
    """``level`` in ``dtype`` where that holds integers (``rounding`` it, within their
    range), as an image of that type is compared with it: compared as a float, a 4096²
    image took 9 times as long."""
    if np.dtype(dtype).kind not in "ui":
        return level
    info = np.iinfo(dtype)
    return np.dtype(dtype).type(min(max(rounding(level), info.min), info.max))


def _seam_least(length: int) -> int:
    """The fewest pixels of a seam along a line ``length`` px long (see ``SEAM_LENGTH``)."""
    return max(64, round(length * SEAM_LENGTH))


def _may_hold_seams(plain: np.ndarray, axis: int) -> np.ndarray:
    """The lines of ``plain`` (bool, M, N) along ``axis`` (1: its rows; 0: its columns) that
    hold an aligned block of half a seam's least length, all plain, as any run of that
    length does: a dark matrix has as many plain pixels in every line, in short runs
    (38 % of a synthetic field: its rows' runs, labelled, took 0.8 s of a 4096² image)."""
    block = _seam_least(plain.shape[axis]) // 2
    whole = plain.shape[axis] // block * block
    if axis == 1:
        held = plain[:, :whole].reshape(plain.shape[0], -1, block).all(axis=2).any(axis=1)
    else:  # (blocks down the columns, in the array's own order: a transposed view would be copied)
        held = plain[:whole].reshape(-1, block, plain.shape[1]).all(axis=1).any(axis=0)
    return np.flatnonzero(held)


def _seam_rows(plain: np.ndarray, seams: np.ndarray, rows: np.ndarray) -> None:
    """Mark in ``seams`` (bool, M, N) those along the ``rows`` of ``plain`` (bool, M, N: the
    pixels at the image's lowest level, or highest, off its frame; see ``SEAM_LENGTH``)
    that may hold one (:func:`_may_hold_seams`). Given the columns as rows (transposed
    views), it marks those along the columns."""
    from scipy import ndimage

    if not rows.size:
        return
    least = _seam_least(plain.shape[1])
    runs, _ = ndimage.label(plain[rows], structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])  # along each row
    at = np.arange(rows.size) + np.concatenate([[0], np.cumsum(np.diff(rows) > 1)])  # (a blank row between)
    long = np.zeros((at[-1] + 1, plain.shape[1]), dtype=bool)
    long[at] = (np.bincount(runs.ravel()) >= least)[runs] & (runs > 0)
    lines, _ = ndimage.label(long)
    for k, (down, across) in enumerate(ndimage.find_objects(lines), start=1):
        line = lines[down, across] == k
        top = rows[np.searchsorted(at, down.start)]
        bottom = top + line.shape[0]
        if (0 < top and bottom < plain.shape[0]  # (one along the edge is a frame's or a strip's)
                and line.shape[0] <= SEAM_WIDTH and line.mean() >= SEAM_FILL
                and max(plain[top - 1, across].mean(), plain[bottom, across].mean()) <= SEAM_FLANK):
            seams[top:bottom, across] |= line


#: A strip of one level along an image's edge, too thin to be broad (the corners of an
#: image turned by a few degrees: 1-3 degrees leave wedges a twentieth of it deep or less),
#: is padding too where it runs along ``EDGE_STRIP_LENGTH`` of that edge or more, at least
#: ``EDGE_STRIP_DEPTH`` px deep somewhere, and its depth from the edge changes along it
#: as a straight line's would, within ``EDGE_STRIP_FIT`` px (root mean square): the edge of
#: the turned image, or of a stitched one's tile. Where a matrix is clipped to that level,
#: its edge follows its particles.
EDGE_STRIP_LENGTH = 1 / 8
EDGE_STRIP_DEPTH = 3
EDGE_STRIP_FIT = 1.0


def _edge_strips(plain: np.ndarray) -> np.ndarray | None:
    """The strips of ``plain`` (bool, M, N) along the image's edges that are padding
    (see ``EDGE_STRIP_LENGTH``), bool; None where there are none. Along each edge a strip
    is a run of the columns (rows) whose first two pixels or more are plain, not all of
    them (a frame's); two wedges that meet at a turned image's corner, V-shaped, are parted
    where the V is shallowest."""
    out = np.zeros(plain.shape, dtype=bool)
    rows = max(EDGE_STRIP_DEPTH + 1, min(plain.shape) // 4)  # (a deeper wedge is broad)
    for band, strips in zip(_edge_bands(plain, rows), _edge_bands(out, rows)):
        depth = _depth(band)
        least = max(EDGE_STRIP_DEPTH * 4, round(band.shape[1] * EDGE_STRIP_LENGTH))
        # (a line of plain pixels along the edge joins the wedges: a strip is 2 px deep or more)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], depth > 1, [0]]).astype(np.int8)))
        for start, stop in zip(edges[::2], edges[1::2]):
            pieces = [(start, stop)]
            if not _straight(depth[start:stop]) and stop - start > 2:
                middle = start + 1 + int(np.argmin(depth[start + 1:stop - 1]))
                pieces = [(start, middle), (middle, stop)]
            for a, b in pieces:
                if b - a >= least and depth[a:b].max() >= EDGE_STRIP_DEPTH and _straight(depth[a:b]):
                    # its tips: shallower than a strip must be somewhere (a pixel or two deep, and noise)
                    while a > 0 and 0 < depth[a - 1] <= EDGE_STRIP_DEPTH:
                        a -= 1
                    while b < len(depth) and 0 < depth[b] <= EDGE_STRIP_DEPTH:
                        b += 1
                    deepest = depth[a:b].max()
                    strips[:deepest, a:b] |= np.arange(deepest)[:, None] < depth[None, a:b]
    return out if out.any() else None


def _edge_bands(image: np.ndarray, rows: int) -> tuple[np.ndarray, ...]:
    """The bands ``rows`` deep along the top, bottom, left and right edges of ``image``,
    views each with its edge at its top."""
    return image[:rows], image[::-1][:rows], image[:, :rows].T, image[:, ::-1][:, :rows].T


def _depth(band: np.ndarray) -> np.ndarray:
    """How many of each column's first pixels are ``band``'s (bool); 0 where all are (a
    frame's columns, or a wedge deeper than a strip). Down a band of an image's rows,
    row by row while any column's are: reduced down its columns, a pixel at a time, the
    top and bottom bands of a 4096² image took 30 ms each."""
    if abs(band.strides[0]) < abs(band.strides[1]):  # a band of columns, each a row of the image
        return np.where(band.all(axis=0), 0, band.argmin(axis=0))
    depth = np.zeros(band.shape[1], dtype=np.intp)
    going = np.ones(band.shape[1], dtype=bool)
    for row in band:
        going &= row
        if not going.any():
            return depth
        depth += going
    depth[going] = 0
    return depth


def _straight(depth: np.ndarray) -> bool:
    """Whether ``depth`` changes along its run as a straight line does, within
    ``EDGE_STRIP_FIT`` px."""
    if len(depth) < 3:
        return False
    x = np.arange(len(depth), dtype=np.float64)
    fitted = np.polyval(np.polyfit(x, depth.astype(np.float64), 1), x)
    return float(np.sqrt(np.mean((depth - fitted) ** 2))) <= EDGE_STRIP_FIT


def _broad_area(plain: np.ndarray) -> np.ndarray | None:
    """The parts of ``plain`` (bool, M, N), pixels of one level, that are broad as an area
    off the sample is (see ``OFF_SAMPLE_WIDTH``) and ``OFF_SAMPLE_MIN_SHARE`` of the image
    or more; None where there are none."""
    if not plain.any():
        return None
    step = _grid_step(plain.shape)
    cells = _block_means(plain.view(np.uint8), step) >= 0.99
    broad = _opened(cells, max(3, round(max(cells.shape) * OFF_SAMPLE_WIDTH)))
    if np.count_nonzero(broad) < OFF_SAMPLE_MIN_SHARE * cells.size:
        return None
    return _touching(plain, _to_pixels(broad, step, plain.shape))


#: An area off the sample (the stub or tape beside a section's edge, a hole through it) is
#: the darkest of three classes of the image's brightness (Otsu's, on a grid of at most
#: ``OFF_SAMPLE_GRID`` block means a side) where it is broad: wide enough to hold a disc a
#: ``OFF_SAMPLE_WIDTH`` of that grid across, and ``OFF_SAMPLE_MIN_SHARE`` of the field or
#: more. It is told from a dark matrix, and from a part of the sample imaged darker, by
#: four things:
#:
#: * within a disc's width beyond it (what it does not enclose) the image stands at another
#:   level: at most ``OFF_SAMPLE_LEAK`` of that ring lies below halfway up to it, where a
#:   matrix goes on at its own level between the particles (0.11-0.45 of it in the
#:   reference set's files and the synthetic scenarios; a sharp edge, 0.09 at most);
#: * that step is ``OFF_SAMPLE_STEP`` times the noise within the area or more;
#: * the sample beyond holds particles (``OFF_SAMPLE_STEP`` times its noise above it), the
#:   median one at most half the disc across: a field of a few particles each a third of
#:   it across is their matrix, whatever its edges;
#: * the area holds at most ``OFF_SAMPLE_THINGS`` as many peaks per cell (each standing
#:   ``OFF_SAMPLE_STEP`` times its noise above its surroundings) as the sample holds
#:   particles: a mosaic's tile imaged at 30 % of the rest's brightness holds as many as
#:   the rest, dimmed with it (it was taken for the stub in 35 of 144 synthetic fields,
#:   now none); a few particles lying on a stub do not keep it from being found, and are
#:   left out with it.
#:
#: Images under ``OFF_SAMPLE_MIN_SIDE`` px on a side are not searched: 1 of 60 synthetic
#: fields of 128 and 192 px, with one to forty particles each up to 3 µm across, was still
#: taken for one (128 px, three particles of 118 px). Left in, such an area becomes the matrix's
#: level in the density map, and the sample's matrix mineral: a third of a synthetic field
#: on the stub, the pair kept 2 of the 41 particles wholly on the section.
OFF_SAMPLE_GRID = 512
OFF_SAMPLE_MIN_SIDE = 256
OFF_SAMPLE_WIDTH = 1 / 20
OFF_SAMPLE_MIN_SHARE = 0.02
OFF_SAMPLE_LEAK = 0.1
OFF_SAMPLE_STEP = 6.0
OFF_SAMPLE_THINGS = 0.5


def _block_means(image: np.ndarray, step: int) -> np.ndarray:
    """The means of ``image``'s ``step`` x ``step`` blocks (float32; the rows and columns
    beyond the last whole block left out)."""
    from ._kernels.separate import block_means

    out = np.empty((image.shape[0] // step, image.shape[1] // step), dtype=np.float32)
    return block_means(np.asarray(image), step, out)


def _opened(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` opened by a disc of ``radius`` px (by distance transforms: 0.01 s on a
    512 x 512 grid, where scipy's binary opening took 0.1 s)."""
    from scipy import ndimage

    core = ndimage.distance_transform_edt(mask) > radius
    if not core.any():  # (the distance transform of no zeros measures from beyond a corner)
        return core
    return ndimage.distance_transform_edt(~core) <= radius


def _grid_step(shape: tuple[int, ...]) -> int:
    """The side of the blocks that make a grid of at most ``OFF_SAMPLE_GRID`` cells a side
    of an image of ``shape``."""
    return max(1, -(-max(shape[:2]) // OFF_SAMPLE_GRID))


def _to_pixels(cells: np.ndarray, step: int, shape: tuple[int, ...]) -> np.ndarray:
    """Grid ``cells`` of ``step`` x ``step`` blocks as the pixels of an image of ``shape``
    (its rows and columns beyond the last whole block as the grid's last)."""
    out = cells.repeat(step, axis=0).repeat(step, axis=1)
    return np.pad(out, [(0, shape[0] - out.shape[0]), (0, shape[1] - out.shape[1])], mode="edge")


def _touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected parts of ``mask`` that hold a ``seeds`` pixel, bool."""
    from scipy import ndimage

    parts, _ = ndimage.label(mask)
    return np.isin(parts, np.setdiff1d(parts[seeds], 0))


def _off_sample(image: np.ndarray, outside: np.ndarray) -> np.ndarray | None:
    """The pixels of a grey ``image`` (bright particles) that lie off the sample (see
    ``OFF_SAMPLE_GRID``), widened by two pixels for the blur of its edge, bool (M, N);
    None where there is no such area. ``outside`` (bool, M, N) is no part of the field (a
    frame, annotations) and is left out of the search."""
    from scipy import ndimage
    from skimage.filters import threshold_multiotsu

    if min(image.shape) < OFF_SAMPLE_MIN_SIDE:
        return None
    step = _grid_step(image.shape)
    grid = ndimage.gaussian_filter(_block_means(image, step), 1.0)
    valid = ~outside[:grid.shape[0] * step:step, :grid.shape[1] * step:step]
    values = grid[valid]
    if not np.isfinite(values).all() or np.ptp(values) == 0:
        return None  # (the analysis says why a NaN or a constant image is no field)
    low = (grid < threshold_multiotsu(values, classes=3)[0]) & valid
    r = max(3, round(max(grid.shape) * OFF_SAMPLE_WIDTH))
    broad = _opened(low, r)
    if np.count_nonzero(broad) < OFF_SAMPLE_MIN_SHARE * values.size:
        return None
    # what it encloses is no sample beyond its edge: a matrix encloses its particles
    inside = ndimage.binary_fill_holes(broad)
    away = ndimage.distance_transform_edt(~broad)
    ring = (away > 2) & (away <= r) & valid & ~inside
    if not ring.any():
        return None
    level = float(np.median(grid[broad]))
    noise = 1.4826 * float(np.median(np.abs(grid[broad] - level)))
    beyond = float(np.median(grid[ring]))
    halfway = (level + beyond) / 2
    if beyond - level < OFF_SAMPLE_STEP * noise or np.mean(grid[ring] < halfway) > OFF_SAMPLE_LEAK:
        return None
    # the area is where the image, lightly smoothed, is below halfway, within a grid cell of it
    area = _touching((grid < halfway) & valid, broad)  # (the broad cells at its edge may lie above halfway)
    # the sample beyond holds particles, the median one at most half as wide as the area is
    # broad: a field of a few particles each a third of it across is a matrix around them
    spread = 1.4826 * float(np.median(np.abs(grid[ring] - beyond)))
    enclosed = ndimage.binary_fill_holes(area)
    cores, n = ndimage.label(valid & ~enclosed & (grid > beyond + OFF_SAMPLE_STEP * spread))
    if not n or np.median(np.bincount(cores.ravel())[1:]) > np.pi * (r / 2) ** 2:
        return None
    # and the area far fewer (debris on a stub), counted by their peaks that stand out of
    # their surroundings (its edge, rising to the sample's level, has none): a part of the
    # sample imaged darker (a mosaic's dim tile) holds as many as the rest, dimmed with it
    # (a stub exported as one level has no noise: a hundredth of the step stands for it)
    peaks = (enclosed & (grid == ndimage.maximum_filter(grid, 5))
             & (grid - ndimage.uniform_filter(grid, 15) > OFF_SAMPLE_STEP * max(noise, (beyond - level) / 100)))
    if np.count_nonzero(peaks) / enclosed.sum() > OFF_SAMPLE_THINGS * n / np.count_nonzero(valid & ~enclosed):
        return None
    below = ndimage.uniform_filter(image, 3, output=np.float32) < halfway  # (no float copy of the image)
    off = (below & _to_pixels(ndimage.binary_dilation(area), step, image.shape)
           | _to_pixels(ndimage.binary_erosion(area), step, image.shape))
    return ndimage.binary_dilation(off, iterations=2) & ~outside


def _unmix(rgb: np.ndarray, basis: np.ndarray | None, *, annotations: bool = False
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """:func:`unmix_composite`'s two parts, with ``annotations`` which pixels are
    annotations (see ``ANNOTATION_SHARE``), widened by two pixels for their soft edges,
    and the composite's frame (see ``FRAME_TOLERANCE``), which the basis is not estimated
    from and which is no annotation."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
        raise ParameterError(f"a composite must be an (M, N, 3) colour image, got shape {rgb.shape}")
    require_real(rgb, "a composite", kind="colour image")
    if rgb.size == 0:
        raise ParameterError(f"the composite is empty (shape {rgb.shape})")
    if not rgb.dtype.isnative:  # stored big-endian (as FITS files are): the kernel reads the machine's order
        rgb = rgb.astype(rgb.dtype.newbyteorder("="))
    require_finite(rgb[..., :3], "the composite")
    frame = _frame_mask(rgb)
    basis = estimate_basis(rgb[~frame] if frame.any() else rgb) if basis is None else _checked_basis(basis)
    if not annotations:
        return *_unmix_pixels(rgb, basis)[:2], None, frame
    from .read import BAR_TOLERANCE, _brightest, _scale_bar_marks

    brightest = _brightest(rgb[..., :3])
    full = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else float(brightest.max())
    bse, se, marks = _unmix_pixels(rgb, basis, level=ANNOTATION_LEVEL * full)
    if (bar := _scale_bar_marks(brightest)) is not None:
        # found again where the colour is the bar's, so that its label is the strokes of that
        # colour near it (a bright particle's core, saturated in one channel, is not)
        colour = np.median(rgb[..., :3][bar], axis=0).astype(np.float32)
        same = _brightest(np.abs(rgb[..., :3] - colour)) <= BAR_TOLERANCE
        if (drawn := _scale_bar_marks(same.view(np.uint8) * np.uint8(255))) is not None:
            marks |= drawn
    marks &= ~frame
    if not marks.any():
        return bse, se, marks, frame
    return bse, se, _with_box(marks, brightest <= ANNOTATION_BLACK * full, frame), frame


def _unmix_pixels(rgb: np.ndarray, basis: np.ndarray, *, level: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The BSE and SE parts of each pixel of ``rgb`` (its first three channels) on the
    ``basis`` colours, clipped at 0 (float32), and, where a ``level`` is given, which pixels
    no mix of the two explains (see ``ANNOTATION_SHARE``; bool, else None), by the numba
    kernel."""
    from ._kernels.separate import unmix

    rows, cols = rgb.shape[:2]
    bse, se = np.empty((rows, cols), np.float32), np.empty((rows, cols), np.float32)
    marks = np.zeros((rows, cols) if level is not None else (1, 1), dtype=bool)
    unmix(rgb, np.linalg.pinv(basis.T).astype(np.float32), basis.astype(np.float32), np.float32(ANNOTATION_SHARE),
          np.float32(np.inf if level is None else level), level is not None, bse, se, marks)
    return bse, se, marks if level is not None else None


def _unmix_pixels_reference(rgb: np.ndarray, basis: np.ndarray, *, level: float | None = None
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Plain-numpy version of :func:`_unmix_pixels`, which tests hold the kernel to."""
    px = rgb[..., :3].astype(np.float32)
    pinv = np.linalg.pinv(basis.T).astype(np.float32)  # (2, 3)
    bse, se = np.maximum(px @ pinv[0], 0.0), np.maximum(px @ pinv[1], 0.0)
    if level is None:
        return bse, se, None
    rest = np.linalg.norm(px - bse[..., None] * basis[0] - se[..., None] * basis[1], axis=-1)
    return bse, se, (rest > ANNOTATION_SHARE * np.linalg.norm(px, axis=-1)) & (rest > level)


def _with_box(marks: np.ndarray, dark: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """An image's annotations: its ``marks`` (a scale bar, lettering) with the black box
    that they often sit on (the ``dark`` pixels beside them, inside the ``frame``, that fill
    their bounding box once the marks in it are filled in: see ``ANNOTATION_BLACK``),
    widened by two pixels for their soft edges, less the frame."""
    from scipy import ndimage

    marks = marks.copy()
    black, _ = ndimage.label(dark, structure=np.ones((3, 3), bool))
    beside = np.unique(black[ndimage.binary_dilation(marks, iterations=2)])
    for index, box in enumerate(ndimage.find_objects(black), start=1):
        if index not in beside or box is None or any(
                part.start == 0 or part.stop == size for part, size in zip(box, black.shape)):
            continue
        filled = ndimage.binary_fill_holes((black[box] == index) | marks[box])
        if filled.sum() >= ANNOTATION_BOX_PX and filled.mean() >= ANNOTATION_BOX_FILL:
            marks[box] |= filled
    return ndimage.binary_dilation(marks, iterations=2) & ~frame


def _checked_basis(basis: np.ndarray) -> np.ndarray:
    """A user's basis as two unit colours, or a :class:`ParameterError` saying what is wrong."""
    hint = "give the BSE (orange) colour and the SE (green) colour as RGB"
    try:
        basis = np.asarray(basis, dtype=np.float64)
    except (TypeError, ValueError):  # ragged, or not numbers
        raise ParameterError(f"basis must be two RGB colours, not {basis!r}", hint=hint) from None
    if basis.shape != (2, 3):
        raise ParameterError(f"basis must have shape (2, 3), not {basis.shape}", hint=hint)
    norms = np.linalg.norm(basis, axis=1)
    if not np.all(np.isfinite(basis)) or np.any(basis < 0) or np.any(norms == 0):
        raise ParameterError("basis colours must be non-negative RGB values, not black")
    basis = basis / norms[:, None]
    if abs(np.dot(basis[0], basis[1])) > 0.995:
        raise ParameterError("the two basis colours must differ (BSE colour, then SE colour)")
    return basis


def density_from_composite(
    rgb: np.ndarray,
    *,
    basis: np.ndarray | None = None,
    denoise_sigma: float = 1.0,
) -> np.ndarray:
    """Mineral density map of an existing DDC composite: :func:`density_map` of its BSE
    part (:func:`unmix_composite`), with its shading subtracted, not divided out.

    The composite's channels were stretched to their percentiles, which moved their zero:
    the flat field, a division, would divide by a background near zero (on composites of
    ``colorize(mode="density")``, whose matrix is pure green, crowded-field F1 0.58 with
    it, 0.86 without). Left in, the shading of a field that is darker on one side
    was density: the matrix of its bright side was taken for mineral (overlays of
    synthetic fields at half the signal in one corner: tiny-particle field F1 0,
    low-dose field 0.44, polydisperse field 0.74). The flat field's smooth background of
    the matrix is subtracted instead: the matrix is level, and each particle stands out
    of it by its own height (the same fields: 0.88, 0.92, 0.89, with the SE colour of
    :func:`estimate_basis`; composites of fields without shading, both modes, within 0.01
    of what they were).

    Parameters
    ----------
    rgb : ndarray, shape (M, N, 3)
        The composite (any numeric type).
    basis : ndarray, shape (2, 3), optional
        BSE (orange) and SE (green) colours; estimated from the image by
        :func:`estimate_basis` when omitted.
    denoise_sigma : float, optional
        Gaussian denoising of the BSE part, pixels.

    Returns
    -------
    ndarray of float32, shape (M, N)

    Examples
    --------
    >>> from ddcsem.synthetic import make_pair
    >>> from ddcsem.colorize import colorize
    >>> pair = make_pair(shape=(128, 128), seed=0)
    >>> d = density_from_composite(colorize(pair.se, pair.bse))
    >>> bool(d[pair.labels > 0].mean() > 0.6 and d[pair.labels == 0].mean() < 0.2)
    True
    """
    return _density(unmix_composite(rgb, basis=basis)[0], denoise_sigma=denoise_sigma, subtract=True,
                    name="the composite's BSE colour")[0]
