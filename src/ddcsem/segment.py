"""Segment particles on a density map and split touching spherules.

The mask is a global threshold of the density map (Otsu by default), specks removed.
Where no particle phase stands out of the noise (a control field without mineral, a few
particles in noise), a method's threshold cuts the noise itself in two; it is raised
clear of the noise instead (``NOISE_CUT_RATIO``). With a ``region``, the threshold and
the noise come from its pixels alone.
Touching particles are then split by a marker-controlled watershed:

``split="edm"``
    ImageJ's *Binary > Watershed*: markers are the maxima of the Euclidean distance map
    that stand at least 0.5 px above their surroundings (h-maxima), flooded on the
    inverted distance map.
``split="shape"`` (default)
    What the data tell beyond the binary mask. The particles are near-spheres and their
    density (BSE, or brightness) peaks at their centres and dips in the gap between
    touching neighbours, so the landscape is the (lightly smoothed) distance map
    multiplied by the density smoothed at a scale of the typical particle radius (the
    median over blobs of their largest inscribed circle; see ``DENSITY_SCALE``). Markers
    are its local maxima that are the highest within ``PEAK_WINDOW`` times their own
    distance to the background, so a small particle beside a large one keeps its seed,
    and that are parted from every higher seed of their blob by a dip of the landscape
    (``VALLEY_DEPTH``), so the bumps of one particle do not split it. Maxima near the
    rim (within ``SEED_DEPTH`` of the typical radius, taken at the seeds of a first look:
    in fused clusters the blobs overstate it) are noise. With ``min_distance``, the maxima
    at least that far apart are the markers instead. Given the SE image of the field, its
    rims also count: secondary-electron yield rises steeply where the surface tilts away
    from the beam, so every sphere is ringed by a bright rim in SE, also along the line
    where it touches a neighbour. The landscape is lowered in proportion to the
    (flat-fielded, lightly smoothed) SE brightness between the median and the 95th
    percentile of the particles' pixels, so seeds sit in particle cores and the split
    follows the rims (crowded synthetic clusters: detection F1 0.94 -> 0.97). A seed near
    a sphere's rim still cuts a crescent from it now and then: a particle left as a
    sliver beside a larger one (its largest inscribed circle under ``SLIVER_FATNESS`` x
    its equivalent radius: no near-sphere) goes to the neighbour it borders most, once
    the edges are refined (tiny scenario: F1 0.925 -> 0.932, 0.910-0.921 -> 0.913-0.928
    on three other seeds; the low-dose field at 20 keV 0.644 -> 0.670). Particles of the
    flat profile need not be round: theirs stay (BAM's transmission images would lose
    0.006 in mean instance F1), as do those of user markers. Before that, pieces that
    meet along a contact as wide as they are, with no dip of the density, and that
    together are more elongated than two spheres can be, are the cuts of a rod, a needle
    or a fibre, and join again (``ROD_NECK``), as do those that are links of a chain of one
    width (a curved fibre's, ``FIBRE_LINKS``); not in the blobs of user markers.
``split="edges"``
    For SE images (InLens, SE2, ETD), whose contrast is topography, not density: their
    particles are flat-topped, brighter at the rims (edge effect), and touching ones meet
    along an edge (a brightness step, or the bright rim of the one on top) rather than
    at a dip. The seeds are the cores that Canny edges enclose (of the SE image given as
    ``se``, else of the density map), and the compact parts they enclose that hold none
    (``THIN_CELL_AREA``); the gradient is flooded from them and from the
    background, so every outline, outer or shared, settles on its gradient ridge (the
    half-maximum of the blurred step). The mask is Li's threshold (``"auto"``): an SE
    image's particles differ in brightness (thickness, tilt, overlap), so its histogram is
    no two-class mix, and Otsu's threshold drops the dimmer ones. BAM's InLens
    micrographs of touching TiO2 particles: instance F1 0.222 with the shape split,
    0.643 with this one. Particles under about 12 px across hold no core between their
    edges and count only when they lie alone.
``split="none"``
    Connected components only.

User markers (a label image of seeds) replace the automatic ones: the maxima, or the
cores of the ``"edges"`` split, whose gradient flood they start.

Edges are then refined. A sphere's BSE signal fades towards its rim (the electron path in
the mineral shortens; partial volume), so the threshold's iso-line lies inside the true
edge and large particles come out small (6-10 % in ECD on the synthetic scenarios).
Particles big enough to size (``REFINE_MIN_ECD_PX`` across) grow by up to two pixels
(``REFINE_PIXELS``, about the blur of the map: probe, denoising and smoothing), or a
tenth of the particles' typical radius (``REFINE_REACH``) where that is more, where the
density still exceeds a quarter of their own peak (``REFINE_PEAK_FRACTION``; one pixel
left them 1-3 % small in ECD). Relative to the peak, not to the threshold, the rule holds
for dim particles (thin spheres, shaded corners) as for bright ones: a threshold-relative
level (0.6 x the threshold) left the spheres of 10-16 px in a polydisperse field, whose
peak is under twice the threshold, 30-50 % small. Synthetic scenarios of 25 px particles:
median ECD error 0.9-2.2 % (1.2-2.7 % with the threshold-relative level); polydisperse
field 6.3 % -> 3.5 %; the fraction is the edge of a blurred partial-volume sphere (0.22
or 0.30 move the D50 by 1-3 %).
Smaller ones are the opposite case: the blur spreads their profile beyond their edge, so
they come out large; they are cut at half their own peak density (their full width at
half maximum). Dim particles (thin spheres, whose peak is under twice the threshold) are
cut by the threshold above their half maximum, small ones often to a speck below
``min_area``: before the split, such blobs grow by up to ``REFINE_PIXELS`` to their half
maximum, away from other blobs (and then, if sizeable, to a quarter of their peak as
above). A speck counts if it then reaches ``min_area`` and a quarter of the median blob
(``RESCUE_FRACTION``): among large particles, a speck of that size is a bump of the
matrix. Tiny synthetic scenario (6 px spheres): detection F1 0.860 -> 0.895 with the
specks grown. Blobs above ``min_area`` grow only where they stand above the clutter level
(below): in a noisy field the half maximum of a blob under it lies in the noise (the tiny
field at a third of the dose lost F1 0.717 -> 0.702 and D50 error +8.5 -> +15 % when they
all grew). Growing them sized the polydisperse field's dim 10-15 px spheres, which the
threshold had left 44 % small, to 24 % small, and its 15-25 px ones from -2.5 to +0.2 %
(median ECD error 4.6 -> 2.2 %); the tiny field's median ECD error went 8.1 -> 7.7 % and
its D50 error -1.8 -> 0.0 %.

That floor, and the threshold itself, are set by the bright particles, and drop the small
dim ones of a polydisperse field even where they stand far above the matrix. So the
clutter of the matrix is measured too: the spread of the smoothed map away from the
particles (its 84th minus 50th percentile, one SD for Gaussian noise; see
``_spread``). A blob whose peak stands ``CLUTTER_SPREADS`` spreads above the
matrix's median is a particle: such specks need no floor, and in a clean field, where
that level lies under the threshold, the blobs above it that hold no bright blob (not
halos) are added, cut at their half maximum, or at that level where it is higher. In
the synthetic fields where that level lies under the threshold, at every imaging of
``benchmarks/accuracy.py``'s settings table, the matrix's bumps stand up to 6.3 spreads
high; noisy fields (low dose, tiny), whose threshold lies under the clutter level, are
unchanged. Log-normal fields of sigma 0.7 (spheres 4-60 px): F1 0.814 -> 0.873 with the
spread of all the pixels under the threshold, which the particles' halos widened by
15-70 %, and 0.873 -> 0.911 with the matrix's (D50 error +14.8 -> +7.5 %; with the dim
blobs grown as above, +11.5 %: spheres under 6 px, 120 nm, stand about as high as the
matrix's bumps, too dim to find in the BSE image, so the D50 still comes out large).

A pair has a second witness: the SE image, given as ``se``. Its detector is another, so
its noise is its own, while a small sphere is bright in it too (edge brightening lights
its flanks, which are most of it). Each image is put in spreads of its matrix and the
two are summed: where the sum stands ``CORROBORATED_SPREADS`` spreads of its own above
its median at a summit of the density (a pixel at ``DIM_PEAK_FRACTION`` x the threshold
or more, none higher within ``RIM_REACH`` px), the SE image corroborates a particle. A
speck above the threshold then grows as one that stands out of the clutter (and counts
if it so passes the size filter); under the threshold, the region around the summit,
down to half its peak where the sum stands as high, is a dim particle. Either must lie
within ``CORROBORATED_REACH`` px of its summit and ``RIM_REACH`` px clear of every other
blob: beside a particle it is that particle's rim (the thin flanks of large spheres at
20 keV are dim in the density and bright in the SE image). In the synthetic fields the
sum's own bumps reach 5.0-7.2 spreads at every imaging of the settings table, which no
summit of the density passes; of the tiny field's 74 spheres whose density peaks under
the threshold, 31 stand above 7 (median 6.6), and more of its specks. Tiny field: F1
0.918 -> 0.925 (0.902-0.911 -> 0.910-0.921 on three other seeds); polydisperse 0.913 ->
0.916 (0.908-0.916 -> 0.910-0.919), 0.860 -> 0.871 at a third of the dose (D50 error +19
-> +14 %); the other fields are unchanged, but for a dim sphere or two found off its
centre, which the scoring counts as false (low dose at blur 1.2 px: 0.976 -> 0.972).

All of this is the profile of partial-volume spheres (``profile="sphere"``). Flat-topped
particles (``profile="flat"``: opaque ones in a transmission image, or spheres imaged at
a low beam energy, whose electrons stop near the surface) have their edge at half their
own peak, large or small, and nothing under the threshold is one of them: sizeable
particles grow to half their peak where the threshold lay above it, small ones are cut
at it as before, and no dim blobs are added. Synthetic fields at 5 keV: median ECD error
5.1-5.3 % -> 2.3-2.7 % (sparse, low dose, shading; crowded 3.5 -> 2.4 %), D50 error
+5.2-6.2 % -> -2.6 to -0.3 %, but the polydisperse field's dim small spheres are lost (F1
0.959 -> 0.908); BAM's transmission images (inverted): mean instance F1 0.810 -> 0.842.
The ``"shape"`` split smooths their density less (``DENSITY_SCALE_FLAT``), to keep the
paler lines where they meet: BAM's transmission images 0.843 -> 0.862.

Holes are filled in two steps. Before the split, only in blobs that are convex once
filled (``HOLE_SOLIDITY``) and have one or two holes (``MAX_PARTICLE_HOLES``): one
particle with a hole, which would otherwise split around it. A cluster of touching
particles is not convex, or riddled with gaps if packed, and its holes are the gaps
between them, which the split needs: filling them, as the textbook recipe does, cost crowded
synthetic fields 0.02 in F1. After the split, background enclosed by one particle takes
its label, while a gap enclosed by several stays background.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from ._filters import gaussian, maximum
from .colorize import li_threshold, otsu_threshold, percentiles
from .errors import ParameterError, require_choice, require_finite, require_image, require_positive, require_switch
from .units import require_pixel_size

__all__ = ["segment_particles", "threshold_value", "drop_border_labels", "median_depth", "THRESHOLDS",
           "EDGES_MIN_DEPTH", "NoisyFieldWarning"]


#: A density map runs from 0 (matrix) to 1 (mineral); one that runs more than this beyond
#: either end is an image given as it is (its h-maxima and edge levels are in density units).
DENSITY_SLACK = 0.5


class NoisyFieldWarning(UserWarning):
    """The threshold lies too close to the background (noise, texture): some particles found
    may be noise (see ``MIN_THRESHOLD_SPREADS``)."""


THRESHOLDS = ("otsu", "li", "yen", "triangle")


def threshold_value(image: np.ndarray, method: str | float = "otsu") -> float:
    """Global threshold of ``image`` by name (``otsu``, ``li``, ``yen``, ``triangle``) or value.

    Parameters
    ----------
    image : ndarray
        The values thresholded (a density map), any shape.
    method : str or float, optional
        One of ``THRESHOLDS`` (in any case: ``Otsu``, as Fiji names it), or the
        threshold itself (finite).

    Returns
    -------
    float
        The threshold: foreground lies above it.

    Examples
    --------
    >>> x = np.r_[np.zeros(50), np.ones(50)]
    >>> 0 < threshold_value(x) < 1, threshold_value(x, 0.3)
    (True, 0.3)
    """
    if isinstance(method, (int, float, np.floating)) and not isinstance(method, bool):
        if not np.isfinite(method):
            raise ParameterError(f"a threshold value must be finite, not {method!r}")
        return float(method)
    from skimage import filters

    functions = {
        "otsu": otsu_threshold,  # scikit-image's rules, in parallel passes
        "li": li_threshold,
        "yen": filters.threshold_yen,
        "triangle": filters.threshold_triangle,
    }
    method = require_choice(method, "threshold", THRESHOLDS, or_="a number")  # (Otsu, as Fiji names it)
    return float(functions[method](np.asarray(image)))


def _h_maxima_markers(surface: np.ndarray, mask: np.ndarray, h: float) -> np.ndarray:
    """Label regional maxima of ``surface`` standing at least ``h`` above their saddles
    (a maximum is kept when it survives reconstruction by dilation of ``surface - h``;
    a blob lower than ``h`` keeps its top)."""
    from skimage.morphology import reconstruction

    seed = np.where(mask, surface - h, 0.0)
    with warnings.catch_warnings():  # scikit-image 0.26 sets an array's shape, which numpy 2.5 deprecates
        warnings.filterwarnings("ignore", "Setting the shape on a NumPy array", DeprecationWarning)
        rec = reconstruction(np.minimum(seed, surface), surface, method="dilation")
    peaks = mask & (surface - rec >= np.minimum(h, surface) - 1e-6)
    markers, _ = _label(peaks)
    return markers


def segment_particles(
    density: np.ndarray,
    *,
    threshold: str | float = "auto",
    split: Literal["shape", "edm", "edges", "none"] = "shape",
    min_area: float = 9.0,
    min_distance: float | None = None,
    pixel_size_nm: float | None = None,
    markers: np.ndarray | None = None,
    fill_holes: bool = True,
    exclude_border: bool = True,
    smooth_sigma: float | str = "auto",
    refine_edges: bool = True,
    profile: Literal["sphere", "flat"] = "sphere",
    se: np.ndarray | None = None,
    region: np.ndarray | None = None,
) -> np.ndarray:
    """Label the particles of a density map, splitting touching ones.

    Parameters
    ----------
    density : ndarray, shape (M, N)
        Density map (particles high), e.g. from :func:`ddcsem.density_map`.
    threshold : {"auto", "otsu", "li", "yen", "triangle"} or float, optional
        Global threshold method or value. ``"auto"``: Li's for the ``"edges"`` split,
        Otsu's otherwise (see the module notes). Names, here and for ``split`` and
        ``profile``, in any case (``"Otsu"``, as Fiji names it).
    split : {"shape", "edm", "edges", "none"}, optional
        How touching particles are split (see the module notes).
    min_area : float, optional
        Smallest particle kept: in nm² when ``pixel_size_nm`` is given, else in px².
    min_distance : float, optional
        Smallest distance between two particle centres: nm with ``pixel_size_nm``, else px.
    pixel_size_nm : float, optional
        Calibration for ``min_area`` and ``min_distance``.
    markers : ndarray of int, shape (M, N), optional
        Seeds (one label per particle) that replace the automatic ones in the blobs they
        fall in: the split floods its own surface from them (the ``"shape"`` split's
        density- and rim-weighted distance map, which ``"none"`` takes too, the ``"edm"``
        split's distance map, the ``"edges"`` split's gradient). The blobs without one
        are split as without markers (``"none"``: not at all).
    fill_holes : bool, optional
        Fill holes inside particles (see the module notes).
    exclude_border : bool, optional
        Drop particles that touch the image border.
    refine_edges : bool, optional
        Place the edges where the particles' ``profile`` puts them: grow particles of at
        least ``REFINE_MIN_ECD_PX`` across by up to ``REFINE_PIXELS`` pixels (a tenth
        of the typical radius of large ones, ``REFINE_REACH``) where the
        density exceeds ``REFINE_PEAK_FRACTION`` of their peak (half of it for the flat
        profile), cut smaller ones at half their own peak density, grow dim specks to it
        before the size filter, and (sphere profile) add the dim particles that stand out
        of the background's clutter under the threshold, or that ``se`` corroborates (see
        the module notes). The ``"edges"`` split places its outlines itself and is not
        refined.
    profile : {"sphere", "flat"}, optional
        The particles' density profile, which the edge refinement follows: partial-volume
        spheres (BSE at 10 keV and above), or flat-topped particles (opaque in a
        transmission image, or imaged at a low beam energy), whose edges lie at half
        their own peak and under whose threshold no dim particles are sought (see the
        module notes).
    smooth_sigma : float or "auto", optional
        Gaussian smoothing of the density before thresholding, px (a density map from
        :func:`ddcsem.density_map` is already denoised). ``"auto"``: 1 px, more for a
        noisy map, in proportion to its pixel noise (see ``NOISE_REF``), and for large
        particles, in proportion to their size (see ``SMOOTH_RADIUS``).
    se : ndarray, shape (M, N), optional
        SE image of the same field, registered: its bright particle rims guide the
        ``"shape"`` split, its edges the ``"edges"`` split, and (sphere profile, with
        edge refinement) it corroborates dim particles that the density alone cannot
        tell from its noise (see the module notes). For an SE image analysed alone, the
        image itself.
    region : ndarray of bool, shape (M, N), optional
        The part of the field analysed (:func:`ddcsem.read_region`): the threshold and the
        noise it is measured against come from its pixels alone, so that what lies
        outside (resin, a hole) sets neither. Particles are labelled everywhere; fill the
        map outside it with the matrix's level, as the ``analyze_*`` functions do.

    Returns
    -------
    ndarray of int32, shape (M, N)
        Particle labels 1..K (0 background), numbered in raster order.

    Warns
    -----
    NoisyFieldWarning
        When the threshold stands fewer than ``MIN_THRESHOLD_SPREADS`` spreads of the
        matrix (noise and texture, away from the particles) above its median: the
        particles found may include noise and miss dim ones.
    UserWarning
        When ``density`` runs far outside 0 to 1 (see ``DENSITY_SLACK``): an image given as
        it is, not its density map.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:60, 0:100]
    >>> two = ((yy - 30) ** 2 + (xx - 35) ** 2 < 15 ** 2) | ((yy - 30) ** 2 + (xx - 62) ** 2 < 15 ** 2)
    >>> int(segment_particles(two.astype(float)).max())        # touching discs are split
    2
    >>> int(segment_particles(two.astype(float), split="none").max())
    1
    """
    from ._kernels.segment import label_boxes, local_peaks, relabel
    from .measure import _check_region

    d = require_image(density, "density", kind="density map",
                      hint="make one with density_map(pair.bse), or of any grey image").astype(np.float32, copy=False)
    # names in any case, as AnalysisOptions and the command line take them ("Shape", "Otsu")
    split = require_choice(split, "split", ("shape", "edm", "edges", "none"))
    fill_holes, exclude_border, refine_edges = (require_switch(value, name) for value, name in (
        (fill_holes, "fill_holes"), (exclude_border, "exclude_border"), (refine_edges, "refine_edges")))
    profile = require_choice(profile, "profile", ("sphere", "flat"))
    if isinstance(threshold, str) or np.ndim(threshold):  # (a number is checked as its level is taken)
        threshold = require_choice(threshold, "threshold", ("auto", *THRESHOLDS), or_="a number", hint=(
            "the density map is thresholded whole: its flat field takes out the uneven shading that a local "
            "threshold would" if np.ndim(threshold) == 2 else None))
    smooth_sigma = smooth_sigma.lower() if isinstance(smooth_sigma, str) else smooth_sigma
    if threshold == "auto":
        threshold = "li" if split == "edges" else "otsu"
    se = None if se is None else require_image(se, "se")  # its pixels, not its role (an SE image's)
    for name, other in (("markers", markers), ("se", se), ("region", region)):
        if other is not None and np.shape(other) != d.shape:
            raise ParameterError(f"{name} must have the shape of density {d.shape}, not {np.shape(other)}")
    if markers is not None:
        markers = np.asarray(markers)
        if not np.issubdtype(markers.dtype, np.integer):
            raise ParameterError(f"markers must be a label image of integers (one label per particle), "
                                 f"not {markers.dtype}; label a boolean seed mask first, e.g. "
                                 "scipy.ndimage.label(seeds)[0]")
        if markers.size and markers.min() < 0:
            raise ParameterError("markers must not be negative (0 is no seed, 1..K the particles)")
    for name, image in (("density", d), ("se", se)):  # else named "the input image" by the threshold
        if image is not None:
            require_finite(image, name)
    if d.size and (float(d.min()) < -DENSITY_SLACK or float(d.max()) > 1 + DENSITY_SLACK):
        warnings.warn(f"density runs from {float(d.min()):.4g} to {float(d.max()):.4g}: segment_particles takes a "
                      "density map, 0 (matrix) to 1 (mineral), and splits and places edges in its units (an image "
                      "given as it is: synthetic field F1 0.86, its density map 0.99); pass density_map(image)",
                      stacklevel=2)
    scale = 1.0 if pixel_size_nm is None else require_pixel_size(pixel_size_nm)
    min_area_px = require_positive(min_area, "min_area", zero=True) / scale**2
    min_distance_px = None if min_distance is None else require_positive(min_distance, "min_distance") / scale

    if isinstance(smooth_sigma, str):
        if smooth_sigma != "auto":
            raise ParameterError(f"smooth_sigma must be a number of pixels or 'auto', not {smooth_sigma!r}")
        noise = _pixel_noise(d, region) if d.shape[1] >= 3 else 0.0
        smooth_sigma = min(max(1.0, noise / NOISE_REF), MAX_AUTO_SIGMA)
        auto_sigma = True
    else:  # 0: no smoothing
        smooth_sigma, auto_sigma = require_positive(smooth_sigma, "smooth_sigma", zero=True), False
    smooth = gaussian(d, smooth_sigma) if smooth_sigma else d
    region = _check_region(region, d.shape)  # one with no pixel was "the input image is empty"
    in_region = smooth if region is None else smooth[region]
    level = threshold_value(in_region, threshold)
    beyond = not isinstance(threshold, str) and _warn_if_beyond(level, in_region)
    typical = _typical_radius(smooth > level) if auto_sigma or refine_edges else 0.0  # what it scales
    if auto_sigma and typical > SMOOTH_RADIUS:  # large particles' wide edges: smoothed in proportion
        sigma = min(smooth_sigma * typical / SMOOTH_RADIUS, MAX_SCALE_SIGMA)
        trial = gaussian(d, sigma)
        trial_level = threshold_value(trial if region is None else trial[region], threshold)
        blobs = trial > trial_level
        if _median_radius(_depth(blobs), *_label(blobs)) > LARGE_RADIUS:  # most particles are large
            smooth_sigma, smooth, level = sigma, trial, trial_level
        else:  # a few large bodies among small particles, which that smoothing would blur
            typical = 0.0
    matrix = _matrix_rows(smooth, level, float(smooth_sigma))
    if region is not None:
        matrix &= region[::4]
    middle, spread = _spread(smooth[::4][matrix])
    # a method's threshold within the matrix's noise may cut into it (a field of few particles or
    # none); a value is the user's
    within = isinstance(threshold, str) and spread > 0 and level - middle < PHASE_SPREADS * spread
    floor = _noise_floor(smooth, level, region) if within else None
    if not beyond:  # where it is, said already
        _warn_if_noisy(level, middle, spread, raised=floor)
    if floor is not None:
        level = floor
        matrix = _matrix_rows(smooth, level, float(smooth_sigma))
        middle, spread = _spread(smooth[::4][matrix])
    mask = smooth > level
    components, n = _label(mask)
    refine = refine_edges and split != "edges"  # the edges split places its outlines itself
    clear, corroborated = np.inf, None  # flat-topped particles: nothing under the threshold is one
    if refine and profile == "sphere" and spread > 0:
        clear = middle + CLUTTER_SPREADS * spread
        if clear < level:
            n = _add_dim_blobs(components, n, smooth, clear, level)
        if se is not None:
            n, corroborated = _corroborate(components, n, smooth, level, se, float(smooth_sigma), matrix, spread,
                                           min_area_px)
    if n:  # specks below min_area go (ids keep their numbers: n stays the largest)
        area = _areas(components, n)
        if refine:
            _grow_dim_blobs(components, area, smooth, level, clear, min_area_px, corroborated)
        keep = area >= min_area_px
        keep[0] = False
        components = relabel(components, np.where(keep, np.arange(n + 1), 0).astype(np.int32))
    boxes = label_boxes(components, n)  # filling holes keeps every blob inside its box
    holes = _fill_convex_holes(components, _holes(components, boxes), boxes) if fill_holes else []
    mask = components > 0
    if markers is not None:
        _warn_of_stray_markers(markers, mask)

    if split == "none" and markers is None:
        labels = components
    elif split == "edges":
        from .separate import density_map

        contrast = d if se is None else density_map(se, clip=False)
        labels = _split_at_edges(contrast, mask, components, n, min_distance_px, markers)
    else:
        edm = _depth(mask)
        if split == "edm":
            surface = edm
        else:
            radius = _median_radius(edm, components, n)
            density_s = gaussian(d, _density_sigma(radius, profile))
            top = percentiles(density_s[mask], (99,))[0] if mask.any() else 1.0
            # centres are deep inside the mask and dense; necks and gaps are neither
            weight = np.multiply(density_s, np.float32(1.0 / max(top, 1e-6)))
            weight = np.clip(weight, np.float32(0.05), np.float32(1.0), out=weight)
            surface = gaussian(edm, EDM_SIGMA * min(1.0, radius / EDM_SIGMA_RADIUS)) * weight
            if se is not None and mask.any():
                surface *= _rim_relief(se, mask)
        if split == "none":  # (with markers) only the blobs they seed are split
            seeds = np.zeros(mask.shape, dtype=np.int32)
        elif split == "edm":
            seeds = _h_maxima_markers(edm, mask, 0.5)
            if min_distance_px:
                seeds = _merge_close(seeds, components, min_distance_px)
        elif min_distance_px:
            seeds = _peak_markers(surface, mask, components, min_distance_px)
        else:
            # a blob's largest inscribed circle is that of its largest particle, so in
            # fused clusters the blobs overstate the particle radius: look once with
            # it, then again with the median radius at the seeds found (one per particle)
            maxima = local_peaks(surface, maximum(surface, 3), mask)
            rows, cols = _scale_seeds(surface, edm, components, maxima, SEED_DEPTH * radius)
            if rows.size:
                rows, cols = _scale_seeds(surface, edm, components, maxima,
                                          SEED_DEPTH * float(np.median(edm[rows, cols])))
            seeds = np.zeros(surface.shape, dtype=np.int32)
            seeds[rows, cols] = np.arange(1, rows.size + 1, dtype=np.int32)
        if markers is not None:  # they flood the split's own surface, as its own seeds would
            seeds = _with_markers(seeds, markers, components, n)
        labels, split_blobs = _watershed_by_component(surface, seeds, components, boxes)
        if split == "shape":  # not in the blobs the user seeded
            if markers is not None:
                split_blobs = split_blobs[~_marked_blobs(markers, components, n)[split_blobs]]
            labels, joined = _merge_elongated(labels, components, split_blobs, boxes[split_blobs], edm, density_s)
    if refine and labels.max():
        grow = REFINE_PEAK_FRACTION if profile == "sphere" else SMALL_PEAK_FRACTION
        labels = _refine_edges(labels, smooth, grow, _refine_steps(typical))
    if split == "shape" and profile == "sphere":  # not in the blobs the user seeded, nor rods and fibres
        _merge_slivers(labels, components if markers is None else
                       np.where(_marked_blobs(markers, components, n)[components], 0, components), joined)
    _fill_particle_holes(labels, holes)
    # drop the particles below min_area (and those on the border), number the rest 1..K
    area = _areas(labels)
    keep = (area > 0) & (area >= min_area_px)
    if exclude_border:
        keep[_border_ids(labels)] = False
    return _renumber(labels, keep)


_EIGHT = np.ones((3, 3), dtype=bool)

#: ``smooth_sigma="auto"`` is 1 px up to this pixel noise of the density map (robust SD,
#: in units of the matrix-to-mineral contrast) and grows in proportion beyond it, up to
#: ``MAX_AUTO_SIGMA``: a Gaussian divides white noise by its sigma, so the smoothed map is
#: equally clean. (Synthetic low-dose field: noise 0.008, sigma 1.6 px, F1 0.949 -> 0.976;
#: the other scenarios are at 0.003-0.005 and keep 1 px.)
NOISE_REF = 0.005
MAX_AUTO_SIGMA = 4.0


#: ``smooth_sigma="auto"`` (the noise's sigma, see ``NOISE_REF``) grows in proportion to
#: the particles' typical radius (:func:`_typical_radius`, found at the noise's sigma)
#: beyond ``SMOOTH_RADIUS``, up to ``MAX_SCALE_SIGMA``, and the edges of large particles
#: grow by up to ``REFINE_REACH`` x that radius: imaged at a higher magnification, a
#: particle's edge is as many more pixels wide, and the smoothing and the 2 px of growth
#: made for particles about 25 px across are too little. Synthetic 500 nm spheres at 2 nm
#: per pixel (250 px across) came out in 113-152 pieces for 16 (F1 0.12-0.16), their edges
#: ragged with noise, and sized 8 % small; now F1 0.98-1.00, ECD error 1.4-2.5 %; at 4 nm,
#: F1 0.947 -> 0.991, ECD error 3.8 % -> 1.6-2.1 %; at a dose of 25 electrons per pixel,
#: 686 particles for 8 at 2 nm, now 8-9 (F1 0.94-1.00), and at 60, 8 nm (62 px), 111 for 92,
#: now 99-101 (F1 0.877 -> 0.92; 0.98 scaled by 20 px, but then touching spheres 250 px
#: across, at a dose of 600, merge: F1 1.00 -> 0.89-0.95). The scenarios of
#: ``benchmarks/accuracy.py`` (typical radius 5-20 px) and BAM's images are not changed.
SMOOTH_RADIUS = 25.0
MAX_SCALE_SIGMA = 8.0

#: ... where most particles are large: the median blob's largest inscribed radius, once the
#: map is smoothed so, is over this many pixels (spheres of 42-250 px across, at doses of
#: 25-600: 21-98 px). A few large bodies among small particles, which carry most of the
#: area (a calcified nodule 300-520 px across among spheres 25 px across: 9-10 px), keep
#: the noise's smoothing and 2 px of growth: smoothed for the nodule, the spheres had come
#: out 12-32 % large (F1 0.95 and 0.74).
LARGE_RADIUS = 15.0


def _depth(mask: np.ndarray) -> np.ndarray:
    """Each pixel's distance to the background of ``mask``, or to the frame where it has
    none (a threshold under every pixel)."""
    from ._kernels.segment import distance_transform

    return distance_transform(np.pad(mask, 1))[1:-1, 1:-1] if mask.all() else distance_transform(mask)


def _median_radius(depth: np.ndarray, blobs: np.ndarray, n: int) -> float:
    """The typical particle radius: the median over the ``blobs`` (1..n) of their largest
    inscribed circle's, from their ``depth`` (1.0 where there are none)."""
    largest = _label_max(depth, blobs, n)[1:]
    largest = largest[np.isfinite(largest)]
    return float(np.median(largest)) if largest.size else 1.0


def _typical_radius(mask: np.ndarray) -> float:
    """The particles' typical radius (px) in a thresholded ``mask``: from the median depth of
    its pixels (their distance to the background), which is 0.29 of a disc's radius, and of
    a cluster's discs' too where they fuse (the largest inscribed circles of fused blobs
    would overstate it), and which specks of noise, few pixels, barely move; measured on
    every other row and column of a mask larger than 2048 x 2048."""
    from ._kernels.segment import distance_transform

    step = 2 if mask.size > 2048 * 2048 else 1
    small = np.ascontiguousarray(mask[::step, ::step])
    if not small.any():
        return 0.0
    depth = distance_transform(np.pad(small, 1))[1:-1, 1:-1][small]
    return step * float(np.median(depth)) / (1 - np.sqrt(0.5))


def _pixel_noise(density: np.ndarray, region: np.ndarray | None = None) -> float:
    """Robust SD of the pixel noise: MAD of the second differences along every 4th row
    (the smooth signal cancels; white noise of SD s gives differences of SD s sqrt(6)),
    of the pixels in ``region`` when given (every row where its 4th rows hold none; 0
    where no row of it is 3 px long)."""
    for step in (4, 1):
        rows = density[::step]
        second = np.abs(rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:])
        if region is not None:
            inside = np.asarray(region, dtype=bool)[::step]
            second = second[inside[:, :-2] & inside[:, 1:-1] & inside[:, 2:]]
        if second.size:
            return 1.4826 * percentiles(second.ravel(), (50,))[0] / np.sqrt(6)
    return 0.0


_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)

#: Seeds of the ``"shape"`` split are the landscape's maxima that are the highest within
#: this fraction of their own distance to the background, and at least ``SEED_DEPTH`` times
#: the typical particle radius inside the mask (rim pixels hold noise maxima); a maximum
#: is a particle of its own if the landscape dips by ``VALLEY_DEPTH`` of its height on the
#: way to every higher seed of its blob within ``VALLEY_REACH`` times their summed depths.
#: Windows of each maximum's own scale keep the small particle beside a large one, which a
#: window of the typical radius swallowed: crowded synthetic fields of four seeds went
#: from F1 0.970/0.960/0.962/0.919 to 0.974/0.979/0.983/0.918 (D50 error at most 0.8 % on
#: the first three, was up to 3.8 %), BAM's TiO2 micrographs from 0.370 to 0.389; a 5 %
#: valley kept crowded fields 0.003-0.009 higher but BAM at 0.369.
PEAK_WINDOW = 0.4
SEED_DEPTH = 0.25
VALLEY_DEPTH = 0.03
VALLEY_REACH = 2.0

#: The ``"shape"`` landscape's density is smoothed to ``DENSITY_SCALE`` times the typical
#: radius, counting the blur the map already has (``MAP_BLUR``: its denoising, 1 px, and
#: the probe, about 1 px; Gaussian blurs add in quadrature), and at least 0.5 px; its
#: distance map by ``EDM_SIGMA`` px (its pixel steps), less in proportion when the typical
#: radius is under ``EDM_SIGMA_RADIUS`` px. Smoothing a map of 6 px spheres by 1.2 px more
#: and their distance map by 1 px flattened the peaks of small spheres beside their
#: neighbours: the tiny scenario went from detection F1 0.895 to 0.919 (0.881/0.897/0.883
#: -> 0.895/0.911/0.904 on three other seeds), the others stayed within 0.001.
#: Flat-topped particles (the ``flat`` profile) have no density peak to bring out, only the
#: paler line or gap where two meet, which that smoothing blurs away: their density is
#: smoothed to ``DENSITY_SCALE_FLAT`` x the radius. BAM's transmission images: mean instance
#: F1 0.843 -> 0.862 (0.856-0.859 at 0.15-0.3); synthetic crowded fields at 5 keV
#: with the flat profile, 0.945/0.960/0.955 -> 0.959/0.960/0.970 (seeds 3, 103, 203), the
#: BSE image alone 0.865 -> 0.909 (five 512² fields); the other 5 keV scenarios within
#: -0.006 to +0.003.
DENSITY_SCALE = 0.4
DENSITY_SCALE_FLAT = 0.25
MAP_BLUR = 1.5
EDM_SIGMA = 1.0
EDM_SIGMA_RADIUS = 8.0


def _density_sigma(radius: float, profile: str = "sphere") -> float:
    """Gaussian sigma (px) that brings the density map to ``DENSITY_SCALE`` x ``radius``
    (``DENSITY_SCALE_FLAT`` for the flat ``profile``)."""
    scale = DENSITY_SCALE if profile == "sphere" else DENSITY_SCALE_FLAT
    return max(0.5, float(np.sqrt(max(0.0, (scale * radius) ** 2 - MAP_BLUR**2))))


#: How far the brightest SE rims lower the splitting landscape (0 none, 1 to zero).
RIM_DEPTH = 0.9
#: SE levels, as percentiles over the particles' pixels, that span "core" to "rim".
RIM_PERCENTILES = (50.0, 95.0)


def _rim_relief(se: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1 in particle cores down to ``1 - RIM_DEPTH`` on the bright SE rims (float32)."""
    from .separate import flat_field

    rim = gaussian(flat_field(se), 1.0)
    core, edge = percentiles(rim[mask], RIM_PERCENTILES)
    rim -= np.float32(core)
    rim *= np.float32(-RIM_DEPTH / max(edge - core, 1e-12))
    rim += np.float32(1.0)  # 1 - depth * (se - core) / (edge - core), then clipped
    return np.clip(rim, np.float32(1.0 - RIM_DEPTH), np.float32(1.0), out=rim)


#: The ``"edges"`` split: Canny's smoothing (px) and hysteresis thresholds, on the
#: unnormalised Sobel magnitude of the unclipped density (about 8 x the contrast per
#: pixel; scikit-image's ``canny`` uses the same scale); a particle's core (its pixels at
#: least one pixel clear of an edge) must hold a disc of ``CORE_RADIUS`` px, else it is a
#: sliver between edges; a blob without a core is kept as one particle if it holds a disc
#: of ``LONE_RADIUS`` px (the film's texture leaves thin arcs above the threshold). The
#: flood reaches ``EDGE_REACH`` px past the thresholded mask, so an outline can settle on
#: its edge outside the mask.
#: Tuned on BAM's TiO2 micrographs. Most of an image is flat, so the median gradient
#: magnitude is its noise: the low threshold is at least ``EDGE_OVER_NOISE`` times that
#: (the high one rising in proportion). BAM's fields, at medians of 0.023-0.046, keep
#: 0.1; a noisy FEI ETD image of a blood cell (0.119) was cut into hundreds of pieces by
#: noise edges, and is one outline with the raised thresholds.
EDGE_SIGMA = 1.0
EDGE_THRESHOLDS = (0.1, 0.3)
CORE_RADIUS = 2.5
LONE_RADIUS = 2.0
EDGE_REACH = 3
EDGE_OVER_NOISE = 2.0


#: The ``"edges"`` split seeds each particle at the core its edges enclose: inside the
#: rim's two edges, each widened by a pixel, a core ``CORE_RADIUS`` thick. So it needs
#: particles about 12 px across; where the median particle pixel lies in a particle of a
#: smaller inscribed radius (px, :func:`median_depth`) than this, the ``auto`` split of an
#: SE image is the ``"shape"`` one (synthetic SE images: tiny scenario, median depth 5 px,
#: detection F1 0.27 with the edges split, 0.59 with the shape split; the others 8.5-23 px
#: and BAM's InLens images 17-64 px, where the edges split is the better one). The blobs'
#: halo makes them deeper than the particles: touching pairs of 9-13 px discs (6.7-8.5 px
#: deep) keep the edges split, which leaves each pair whole.
EDGES_MIN_DEPTH = 6.0

#: A part of the mask that the edges enclose but that holds no core (a particle partly
#: hidden by its neighbours, or small: its rim's edge bands leave nothing ``CORE_RADIUS``
#: thick inside) is a seed of its own, whole, where it covers at least ``THIN_CELL_AREA``
#: px, holds a disc of ``THIN_CELL_RADIUS`` px (the strip between an edge and the mask's
#: rim does not) and fills ``THIN_CELL_SOLIDITY`` of its convex hull (pixels as unit
#: squares: the band between a bright rim's two edges, an arc or a ring, does not). Such
#: particles were taken by a neighbour or the background. BAM's InLens fields: mean
#: instance F1 0.630 -> 0.643 (0.816, 0.724, 0.539, 0.614 and 0.523; none lower); 0.639
#: and 0.640 at a solidity of 0.6 and 0.7 or at 60 px, the same at a radius of 1.5 or 2.5;
#: with every such part of 40 px a seed, 0.557.
THIN_CELL_AREA = 40
THIN_CELL_RADIUS = 2.0
THIN_CELL_SOLIDITY = 0.65


def median_depth(density: np.ndarray, *, threshold: str | float = "li", min_area: float = 9.0) -> float:
    """Largest inscribed radius (px) of the blob that holds the median blob pixel.

    The blobs are the connected components (8-connected, at least ``min_area`` px) of the
    density smoothed by 1 px and thresholded (see :func:`threshold_value`). Weighting by
    area, the many specks of a textured field do not outvote the particles.

    Parameters
    ----------
    density : ndarray, shape (M, N)
        Density map (or any image whose particles are bright).
    threshold : str or float, optional
        As in :func:`threshold_value`.
    min_area : float, optional
        Smaller blobs (px) are not counted.

    Returns
    -------
    float
        The radius in pixels; 0 when no blob is large enough.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:80, 0:80]
    >>> field = ((yy - 40) ** 2 + (xx - 40) ** 2 <= 20 ** 2).astype(float)
    >>> field[5, 5] = field[70, 8] = 1.0                      # two specks
    >>> median_depth(field, threshold=0.5, min_area=1) >= 15
    True
    """
    from ._kernels.segment import distance_transform

    smooth = gaussian(np.asarray(density, dtype=np.float32), 1.0)
    blobs, n = _label(smooth > threshold_value(smooth, threshold))
    area = np.bincount(blobs.ravel(), minlength=n + 1)
    keep = area >= min_area
    keep[0] = False
    if not keep.any():
        return 0.0
    radius = _label_max(distance_transform(blobs > 0), blobs, n)[keep]
    order = np.argsort(radius)
    weight = np.cumsum(area[keep][order])
    return float(radius[order][np.searchsorted(weight, weight[-1] / 2)])


def _split_at_edges(contrast: np.ndarray, mask: np.ndarray, components: np.ndarray, n: int,
                    min_distance: float | None, markers: np.ndarray | None = None) -> np.ndarray:
    """The ``"edges"`` split: flood the gradient of ``contrast`` from the particle cores
    (or the user's ``markers``) and from the background, so that every edge, outer or
    between particles, lies on its gradient ridge (the half-maximum of a blurred step)."""
    from scipy import ndimage

    from ._kernels.segment import label_boxes

    edges, gradient = _edges(contrast)
    seeds = _edge_cores(edges, mask)
    if min_distance:
        seeds = _merge_close(seeds, components, min_distance)
    if markers is not None:
        seeds = _with_markers(seeds, markers, components, n)
    seeds = _seed_lone_blobs(seeds, mask, components, n)
    # the flood reaches EDGE_REACH px past the mask, whose outermost ring is background
    near = ndimage.binary_dilation(mask, structure=_CROSS, iterations=EDGE_REACH - 1)
    region = ndimage.binary_dilation(near, structure=_CROSS)
    background = int(seeds.max()) + 1
    seeds = np.where(region & ~near, np.int32(background), seeds)
    regions, k = _label(region)
    labels = _watershed_by_component(-gradient, seeds, regions, label_boxes(regions, k))[0]
    labels[labels == background] = 0
    return labels


def _marked_blobs(markers: np.ndarray, components: np.ndarray, n: int) -> np.ndarray:
    """Which blobs of ``components`` (1..n) hold a seed of the user's ``markers`` (bool, n + 1)."""
    marked = np.zeros(n + 1, dtype=bool)
    marked[components[markers > 0]] = True
    marked[0] = False
    return marked


def _warn_of_stray_markers(markers: np.ndarray, mask: np.ndarray) -> None:
    """Warn of the user's seeds (``markers``, 1..K) that lie wholly outside ``mask``, the
    particles: they seed nothing, and the blobs meant are split as without them."""
    given = np.unique(markers[markers > 0])
    stray = np.setdiff1d(given, markers[mask & (markers > 0)])
    if stray.size:
        named = f"{'seed' if stray.size == 1 else 'seeds'} {', '.join(map(str, stray[:5]))}"
        warnings.warn(f"{stray.size} of the {given.size} seeds marked lie on no particle (the background at "
                      f"this threshold) and split nothing: check that they were marked on this image, and its "
                      f"data bar cropped alike ({named}{', ...' if stray.size > 5 else ''})", stacklevel=3)


def _with_markers(seeds: np.ndarray, markers: np.ndarray, components: np.ndarray, n: int) -> np.ndarray:
    """The user's ``markers`` in the blobs they fall in, the automatic ``seeds`` in the
    others (renumbered after the markers), int32: a click mends the split of its cluster
    and leaves the rest of the field as it was."""
    marked = _marked_blobs(markers, components, n)
    inside = (components > 0) & (markers > 0)
    out = np.zeros(components.shape, dtype=np.int32)
    _, ids = np.unique(markers[inside], return_inverse=True)  # 1..K, whatever ids they came with
    out[inside] = ids.ravel() + 1
    automatic = (seeds > 0) & ~marked[components]
    out[automatic] = seeds[automatic] + (ids.max() + 1 if ids.size else 0)
    return out


def _edges(contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canny's edges of ``contrast`` (smoothed by ``EDGE_SIGMA``, hysteresis between
    ``EDGE_THRESHOLDS``, raised on a noisy image (``EDGE_OVER_NOISE``): thin edge pixels
    above the low one, 8-connected to one above the high one) and the gradient magnitude
    they came from (float32)."""
    from ._kernels.segment import edge_gradient, thin_edges

    d_row, d_col, magnitude = edge_gradient(gaussian(np.asarray(contrast, dtype=np.float32), EDGE_SIGMA))
    low, high = EDGE_THRESHOLDS
    floor = EDGE_OVER_NOISE * percentiles(magnitude.ravel(), (50,))[0]
    if floor > low:  # a noisy image: both thresholds rise above its noise, in proportion
        low, high = floor, high * floor / low
    thin = thin_edges(d_row, d_col, magnitude, np.float32(low))
    linked, k = _label(thin)
    strong = np.zeros(k + 1, dtype=bool)
    strong[linked[thin & (magnitude >= np.float32(high))]] = True
    strong[0] = False
    return strong[linked], magnitude


def _thin_edges_reference(d_row: np.ndarray, d_col: np.ndarray, magnitude: np.ndarray,
                          low: float) -> np.ndarray:
    """Plain-numpy version of the kernel ``thin_edges``, which tests hold it to."""
    rows, cols = magnitude.shape
    magnitude = magnitude.astype(np.float64)  # the kernel interpolates in float64 too
    r, c = np.mgrid[1:rows - 1, 1:cols - 1]
    gr, gc, m = d_row[r, c].astype(np.float64), d_col[r, c].astype(np.float64), magnitude[r, c]
    sr, sc = np.where(gr >= 0, 1, -1), np.where(gc >= 0, 1, -1)
    along_row = np.abs(gc) >= np.abs(gr)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(along_row, np.abs(gr) / np.abs(gc), np.abs(gc) / np.abs(gr))
    # the two neighbours on each side: straight ahead, then diagonal
    step_r, step_c = np.where(along_row, 0, sr), np.where(along_row, sc, 0)
    ahead = (1 - w) * magnitude[r + step_r, c + step_c] + w * magnitude[r + sr, c + sc]
    behind = (1 - w) * magnitude[r - step_r, c - step_c] + w * magnitude[r - sr, c - sc]
    out = np.zeros(magnitude.shape, dtype=bool)
    out[1:-1, 1:-1] = (m >= low) & (m > 0) & (m >= ahead) & (m >= behind)
    return out


def _edge_cores(edges: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Seeds of the ``"edges"`` split, labelled 1..K (int32): the parts of the mask enclosed
    by ``edges``, each shrunk by one pixel (so a gap in an edge does not join two cores)
    and at least ``CORE_RADIUS`` thick; and, whole, the parts that hold none of these but
    are large and compact enough for a particle (``THIN_CELL_AREA``)."""
    from scipy import ndimage

    from ._kernels.segment import distance_transform, label_boxes
    from .measure import _raw_kernel

    cells = mask & ~ndimage.binary_dilation(edges, structure=_CROSS)
    core = ndimage.binary_erosion(cells, structure=_CROSS)
    cores, k = _label(core, eight=False)
    thick = _label_max(distance_transform(core), cores, k)
    keep = np.zeros(k + 1, dtype=bool)
    keep[1:] = thick[1:] >= CORE_RADIUS  # -inf for absent ids
    seeds = _renumber(cores, keep)
    inside = distance_transform(cells)
    cells, m = _label(cells, eight=False)
    area = _areas(cells, m)
    thin = (area >= THIN_CELL_AREA) & (_label_max(inside, cells, m) >= THIN_CELL_RADIUS)
    thin[cells[seeds > 0]] = False
    thin[0] = False
    boxes = label_boxes(cells, m)
    # a hull lies within its box: a cell that fills enough of its box is compact enough
    loose = np.flatnonzero(thin & (area < THIN_CELL_SOLIDITY * (boxes[:, 1] - boxes[:, 0])
                                   * (boxes[:, 3] - boxes[:, 2])))
    if loose.size:
        within = np.zeros(m + 1, dtype=bool)
        within[loose] = True
        hull = _raw_kernel(_renumber(cells, within), None, None)["hull_area"]  # in the order of the ids
        thin[loose] = area[loose] >= THIN_CELL_SOLIDITY * hull
    return np.where(thin[cells], _renumber(cells, thin) + np.int32(seeds.max()), seeds).astype(np.int32)


def _seed_lone_blobs(seeds: np.ndarray, mask: np.ndarray, components: np.ndarray, n: int) -> np.ndarray:
    """``seeds`` and, in each blob without any, its pixels at least ``LONE_RADIUS`` inside
    (none in a thin arc), as one more seed (int32)."""
    from ._kernels.segment import distance_transform

    seeded = np.zeros(n + 1, dtype=bool)
    seeded[components[seeds > 0]] = True
    seeded[0] = True
    lone = ~seeded[components] & (distance_transform(mask) >= LONE_RADIUS)
    return np.where(lone, components + int(seeds.max()), seeds).astype(np.int32)


#: Edge refinement: particles at least this many pixels across (the usual floor for
#: sizing) grow by up to ``REFINE_PIXELS`` pixels where the density exceeds
#: ``REFINE_PEAK_FRACTION`` x their own peak; smaller ones are cut at half their peak.
REFINE_MIN_ECD_PX = 12.0
REFINE_PEAK_FRACTION = 0.25
REFINE_PIXELS = 2
REFINE_REACH = 0.1
SMALL_PEAK_FRACTION = 0.5


#: A dim speck grown to its half maximum is kept if it then holds at least this fraction
#: of the median area of the field's blobs (and ``min_area``); in a field of large
#: particles it is a bump of the matrix (any fraction from 0.1 to 0.4 gives the same
#: results on the synthetic scenarios; without it, the low-dose field lost 0.017 in F1).
RESCUE_FRACTION = 0.25


#: A blob whose peak stands this many spreads of the matrix above its median (the spread:
#: the 84th minus the 50th percentile of the smoothed map away from the particles, one SD
#: for Gaussian noise, more where texture widens it; see :func:`_spread`) is no
#: bump of the matrix. In the synthetic fields whose clutter level lies under the
#: threshold the bumps reach 6.3 spreads (crowded and polydisperse at a third of the dose);
#: the dim spheres that the threshold misses in the polydisperse field stand at a median
#: of 4.8-9.1 spreads (over the settings table's imagings), up to 17.
CLUTTER_SPREADS = 8.0

#: ... but a blob that peaks under this fraction of the threshold is another phase, not a
#: dim particle: where the background is clean, faint structure of its own clears the
#: clutter level. The dim spheres of the polydisperse field that clear it peak at
#: 0.48-0.95 x the threshold (at every imaging of ``benchmarks/accuracy.py``'s settings
#: table; the few under 0.5 x are lost); the wisps of residue on the support film of BAM's
#: transmission images (inverted, and refined as a BSE image is) mostly under 0.5 x,
#: 12-135 of them per field.
DIM_PEAK_FRACTION = 0.5

#: The SE image of a pair corroborates a particle at a summit of the density where the
#: two images, each in spreads of its matrix, summed, stand this many spreads of the sum
#: above its median (see :func:`_corroborate`). The sum's own bumps reach 5.0-7.2 spreads
#: in the synthetic fields (7.2: the low-dose field at 5 keV; sparse at a third of the
#: dose 6.9), at every imaging of ``benchmarks/accuracy.py``'s settings table, but pass
#: no summit there; at 6.5 the sparse field at 20 keV lost 0.004 in F1, at 7.5 the tiny
#: field gained 0.004 instead of 0.007.
CORROBORATED_SPREADS = 7.0

#: A summit is a pixel of the smoothed density that nothing within this many pixels tops,
#: and a corroborated particle lies this far from every other (1-3 px: the same F1 within
#: 0.005 on the synthetic scenarios).
RIM_REACH = 2

#: A corroborated particle lies within this many pixels of its summit (8 or 16: the same
#: results): larger, it would be no particle that the threshold could miss.
CORROBORATED_REACH = 16

#: A particle of the shape split (sphere profile) whose largest inscribed circle has a
#: radius under this fraction of its equivalent radius (1 for a disc), beside a larger
#: one, is a sliver cut from it. In the tiny synthetic field the 22 particles under 0.6
#: held no sphere's centre; of the 10 between 0.6 and 0.7, 3. It goes to the neighbour it
#: borders most where it borders it along at least ``SLIVER_CONTACT`` x its own largest
#: inscribed diameter, as a crescent does its sphere: a fibre's piece between two spheres
#: on it meets them at its ends, and had gone to one of them (spheres of radius 8 and 10 px
#: on a fibre as wide as their radius: 2.5-5.7 times their own area, now 2.2-3.3).
SLIVER_FATNESS = 0.6
SLIVER_CONTACT = 2.0


def _matrix_rows(smooth: np.ndarray, level: float, sigma: float) -> np.ndarray:
    """Which pixels of every 4th row of ``smooth`` (the map smoothed by ``sigma`` px) are
    matrix: at least 2 px plus two sigmas from any pixel above the threshold ``level``, so
    that particle halos do not count."""
    away = int(np.ceil(2 * sigma)) + 2
    return ~(maximum(smooth[::4], (2 * -(-away // 4) + 1, 2 * away + 1)) > level)


def _spread(values: np.ndarray) -> tuple[float, float]:
    """Median and spread (84th minus 50th percentile) of ``values``, the matrix pixels of
    an image (:func:`_matrix_rows`). The spread is 0 where the matrix is flat (a mask: no
    measure of clutter), and (nan, 0) where no matrix is left."""
    if values.size == 0:
        return np.nan, 0.0
    middle, upper = percentiles(values, (50.0, 84.13))
    return float(middle), float(max(upper - middle, 0.0))


#: A threshold that stands fewer spreads of the matrix above its median than this (see
#: :func:`_spread`) barely parts particles
#: from noise or texture: :class:`NoisyFieldWarning`. The synthetic scenarios made at
#: doses of 25-600 electrons per pixel stand at 2.4-14.9: those under 4.5 kept a
#: precision of 0.07-0.80 (the tiny field at a dose of 150 or less, the sparse and shaded
#: ones at 25), every field of a precision of 0.90 or more stands at 4.78 or more, and a
#: few between lost some precision unflagged (0.77-0.88). The issue's scenarios stand at
#: 5.3 (low dose) to 14.9 (polydisperse), BAM's InLens images at 7.7-12, the crowded
#: sample pair ``valve_02`` at 15; the noisy FEI ETD image of a blood cell at 3.6, and
#: images of no particles on a background (a Zeiss test image, a Thermo FIB needle) at
#: 2.2-3.2.
MIN_THRESHOLD_SPREADS = 4.5

#: A threshold that stands under ``PHASE_SPREADS`` spreads of the matrix above its median
#: (:func:`_spread`) and takes in more than this many times as many pixels as stand
#: ``PHASE_SPREADS`` spreads (of the lower half of the smoothed map) above the map's
#: median, and under that level, cuts into the noise, and is raised to it (see
#: :func:`_noise_floor`; a field of particles the wrong way round, which fill most of it,
#: stands hundreds of spreads of its flat background up, and keeps its threshold for the
#: ``ParticlePolarityWarning``). Without it, fields of no particles (synthetic, doses
#: 25-600) gave about 1000 "particles" and a mineral fraction near 0.5, and fields of 1-10
#: particles at a dose of 60 as many; with it, 96 such blank fields (of every imaging:
#: shading, line noise, 5 keV, blur, 16 bits) give none, and the few particles are found
#: (F1 0.8-1.0).
#: Fields where a phase stands out stay as they were: in the synthetic scenarios and BAM's
#: images the threshold stands above that level (taking in 0.14-0.96 times the pixels that
#: stand clear); the textured and noisy ones (a field of faceted crystals on a granular
#: film; the sparse and shaded fields at a dose of 25) take in 1.1-3.6 times as many; the
#: few particles at a dose of 60, 11 times, the blank fields all.
NOISE_CUT_RATIO = 4.0
PHASE_SPREADS = 6.0


def _noise_floor(smooth: np.ndarray, level: float, region: np.ndarray | None) -> float | None:
    """Where the threshold ``level`` cuts into the noise, the level that noise does not
    reach: ``PHASE_SPREADS`` spreads above the median of the smoothed map (every 4th row;
    the spread from its lower half, which particles leave alone), if that is higher and
    ``level`` takes in more than ``NOISE_CUT_RATIO`` times as many pixels as stand above
    it, as in a field of few particles or none; else None. Within ``region``, when given."""
    values = smooth[::4].ravel() if region is None else smooth[::4][region[::4]]
    if not values.size:  # a region within the rows between every 4th
        values = smooth[region]
    low, middle = percentiles(values, (15.87, 50.0))
    spread = middle - low
    clear = np.count_nonzero(values > middle + PHASE_SPREADS * spread)
    if spread <= 0 or np.count_nonzero(values > level) <= NOISE_CUT_RATIO * clear:
        return None
    floor = middle + PHASE_SPREADS * spread
    return float(floor) if floor > level else None


def _warn_if_beyond(level: float, values: np.ndarray) -> bool:
    """Warn when a threshold value given lies beyond the smoothed map's ``values``: above
    them all, where no pixel stands above it, or under them all, where the field is one
    particle. Otsu's threshold of the map is offered. Whether it warned."""
    if not values.size:
        return False
    low, high = float(values.min()), float(values.max())
    if low <= level < high:
        return False
    what = (f"at or above its highest value, {high:.4g}: no pixel stands above it"
            if level >= high else
            f"below its lowest value, {low:.4g}: every pixel stands above it, so the whole field is taken for "
            "one particle")
    offer = f" (Otsu's method sets {threshold_value(values, 'otsu'):.3g} here)" if high > low else ""
    warnings.warn(f"the threshold given, {level:.4g}, lies beyond the smoothed density map: {what}; give a "
                  f"value within {low:.3g} to {high:.3g}, or a method, as 'otsu'{offer}", stacklevel=3)
    return True


def _warn_if_noisy(level: float, middle: float, spread: float, raised: float | None = None) -> None:
    """Warn (:class:`NoisyFieldWarning`) when the threshold ``level`` stands under
    ``MIN_THRESHOLD_SPREADS`` spreads above the matrix's median (:func:`_spread`), and
    say so when it was ``raised`` to the noise floor instead."""
    import warnings

    if raised is not None:
        stood = (f" (it stood {(level - middle) / spread:.1f} spreads of the background above its median)"
                 if spread > 0 else "")
        warnings.warn(
            f"no particles stand out of the noise enough to set the threshold: it cut into the noise "
            f"itself{stood}, so it was raised to "
            f"{PHASE_SPREADS:g} spreads above the field's median, which its noise does not reach: only particles "
            "that stand clear of the noise are kept (none, in a field without particles); give a "
            "threshold value to set it yourself",
            NoisyFieldWarning,
            stacklevel=3,
        )
    elif spread > 0 and level - middle < MIN_THRESHOLD_SPREADS * spread:
        warnings.warn(
            f"particles and background are poorly separated: the threshold stands only "
            f"{(level - middle) / spread:.1f} spreads of the background above its median (under "
            f"{MIN_THRESHOLD_SPREADS:g}), so the particles found may include noise or texture and "
            "miss dim ones; for a noisy image, image at a higher dose (a slower scan, frame or line "
            "averaging), or at a higher magnification if the particles are only a few pixels across; "
            "on a textured background (the grains of a film or coating), a smallest size above the "
            "grains' (min_area; --min-diameter) keeps them out",
            NoisyFieldWarning,
            stacklevel=3,
        )


def _dim_blobs(smooth: np.ndarray, clear: float, level: float) -> tuple[np.ndarray, int, np.ndarray]:
    """The blobs of ``smooth > clear`` and, per blob, the least value of its particle:
    ``clear``, or half its peak where that is higher (its full width at half maximum);
    infinite (no particle) for a blob that peaks under ``DIM_PEAK_FRACTION`` x ``level``."""
    dim, m = _label(smooth > clear)
    peak = _label_max(smooth, dim, m)
    least = np.maximum(SMALL_PEAK_FRACTION * peak, clear)
    least[peak < DIM_PEAK_FRACTION * level] = np.inf
    return dim, m, least


def _add_dim_blobs(components: np.ndarray, n: int, smooth: np.ndarray, clear: float, level: float) -> int:
    """Add, in place, as ids ``n + 1 ...``, the blobs of ``smooth > clear`` that hold no
    pixel of a blob above the threshold ``level``, down to half their peak: dim particles
    (small spheres, partial-volume dim) of a clean field. The blobs that hold one are the
    halos of bright particles; those that peak under ``DIM_PEAK_FRACTION`` x ``level``
    another phase, and their ids stay empty. Returns the new largest id."""
    from ._kernels.segment import add_dim_blobs

    dim, m, least = _dim_blobs(smooth, clear, level)
    return n + add_dim_blobs(components, dim, m, n, smooth, least)


def _corroborate(components: np.ndarray, n: int, smooth: np.ndarray, level: float, se: np.ndarray,
                 sigma: float, matrix: np.ndarray, spread: float, min_area_px: float) -> tuple[int, np.ndarray]:
    """The particles that the SE image ``se`` corroborates (see the module notes): the
    blobs of ``components`` (ids 1..n) and, added in place as ids ``n + 1 ...``, dim
    particles under the threshold ``level``. Returns the new largest id and which ids the
    SE image corroborates (bool per id).

    A particle is corroborated at its summit, a pixel of ``smooth`` (the density map
    smoothed by ``sigma`` px) that peaks at ``DIM_PEAK_FRACTION`` x ``level`` or more, with
    nothing higher within ``RIM_REACH`` px, where the two images, each in spreads of its
    matrix (``matrix``, :func:`_matrix_rows`; ``spread``: the density's), summed, stand
    ``CORROBORATED_SPREADS`` spreads of the sum above its median. A summit outside the
    blobs is a dim particle: the region around it, down to half its peak, where the sum
    stands as high; a summit in a speck (a blob under ``min_area_px``) corroborates the
    speck. Either must fit within ``CORROBORATED_REACH`` px of its summit, with no other
    blob within ``RIM_REACH`` px: beside a particle it is that particle's rim."""
    from scipy import ndimage

    from ._kernels.segment import local_peaks

    sure = np.zeros(n + 1, dtype=bool)
    reach = 2 * RIM_REACH + 1
    at_r, at_c = local_peaks(smooth, maximum(smooth, reach), smooth >= np.float32(DIM_PEAK_FRACTION * level))
    if at_r.size == 0:
        return n, sure
    se_smooth = gaussian(np.asarray(se, dtype=np.float32), sigma) if sigma else np.asarray(se, np.float32)
    _, se_spread = _spread(se_smooth[::4][matrix])
    if not se_spread > 0:  # a flat SE image: nothing to corroborate with
        return n, sure
    # the two standings summed, up to a constant: w_bse x density + w_se x SE
    w_bse, w_se = np.float32(1.0 / spread), np.float32(1.0 / se_spread)
    middle, sum_spread = _spread(smooth[::4][matrix] * w_bse + se_smooth[::4][matrix] * w_se)
    bar = np.float32(middle + CORROBORATED_SPREADS * sum_spread)
    high = smooth[at_r, at_c] * w_bse + se_smooth[at_r, at_c] * w_se > bar
    at_r, at_c = at_r[high], at_c[high]
    speck = _areas(components, n) < min_area_px  # blobs: only specks need corroborating
    speck[0] = True  # and the summits outside the blobs
    at = speck[components[at_r, at_c]]
    near = np.ones((reach, reach), dtype=bool)
    first = n + 1
    for r, c in zip(at_r[at], at_c[at]):
        k = components[r, c]  # a speck, the particle of an earlier summit, or none
        if k and (k >= first or sure[k]):
            continue
        box = np.s_[max(r - CORROBORATED_REACH, 0):r + CORROBORATED_REACH + 1,
                    max(c - CORROBORATED_REACH, 0):c + CORROBORATED_REACH + 1]
        if k:
            region = components[box] == k
        else:
            window = smooth[box]
            region, _ = ndimage.label((window >= SMALL_PEAK_FRACTION * smooth[r, c])
                                      & (window * w_bse + se_smooth[box] * w_se > bar), structure=_EIGHT)
            region = region == region[r - box[0].start, c - box[1].start]
        if region[[0, -1]].any() or region[:, [0, -1]].any():  # too large, or cut by the frame
            continue
        around = components[box][ndimage.binary_dilation(region, structure=near)]
        if np.any((around > 0) & (around != k)):  # beside a particle: its rim
            continue
        if k:
            sure[k] = True
        else:
            n += 1
            components[box][region] = n
    return n, np.concatenate([sure, np.ones(n + 1 - first, dtype=bool)])


def _add_dim_blobs_reference(components: np.ndarray, n: int, smooth: np.ndarray, clear: float,
                             level: float) -> int:
    """Plain-numpy version of :func:`_add_dim_blobs`, which tests hold the kernel to."""
    dim, m, least = _dim_blobs(smooth, clear, level)
    halo = np.zeros(m + 1, dtype=bool)
    halo[dim[components > 0]] = True
    halo[0] = True
    ids = np.cumsum(~halo) * ~halo  # the dim blobs numbered 1, 2, ...
    extra = np.where(smooth >= least[dim], ids[dim], 0)
    components[extra > 0] = extra[extra > 0] + n
    return n + int(np.count_nonzero(~halo))


def _grow_dim_blobs(components: np.ndarray, area: np.ndarray, smooth: np.ndarray, level: float,
                    clear: float, min_area_px: float, corroborated: np.ndarray | None) -> None:
    """Grow, in place, each blob that the threshold ``level`` cut above its half maximum
    (its peak is under ``level / SMALL_PEAK_FRACTION``; the dim blobs of
    :func:`_add_dim_blobs` too) by up to ``REFINE_PIXELS`` pixels to its half maximum,
    away from other blobs, if it is a speck (under ``min_area_px``) or stands out of the
    matrix's clutter: peaks above ``clear`` (``CLUTTER_SPREADS``; under it, in a noisy
    field, a blob's half maximum lies in the noise), or was corroborated by the SE image
    (``corroborated``, bool per id, :func:`_corroborate`). A speck keeps its
    growth only if it thereby reaches ``min_area_px`` and either ``RESCUE_FRACTION`` of
    the median area of the blobs above the threshold or stands out of the clutter; the
    others stay specks. ``area`` (pixels per id) is updated."""
    from ._kernels.segment import grow_specks

    n = area.size - 1
    peak = _label_max(smooth, components, n)
    stands_out = peak >= clear
    if corroborated is not None:
        stands_out |= corroborated
    sized = area[1:][(area[1:] >= min_area_px) & (peak[1:] > level)]
    dim = (area > 0) & (peak < level / SMALL_PEAK_FRACTION) & ((area < min_area_px) | stands_out)
    dim[0] = False
    ids = np.flatnonzero(dim)
    if ids.size == 0:
        return
    cols = components.shape[1]
    boxes = _boxes_around(components, n, ids, REFINE_PIXELS)
    changes = [grow_specks(components, smooth, dim, peak, SMALL_PEAK_FRACTION, boxes)
               for _ in range(REFINE_PIXELS)]
    at_r, at_c, _ = (np.concatenate(part) for part in zip(*changes))
    at_r, at_c = np.divmod(np.unique(at_r * cols + at_c), cols)  # boxes may overlap
    to = components[at_r, at_c]
    grown = area + np.bincount(to, minlength=n + 1)
    typical = float(np.median(sized)) if sized.size else 0.0  # specks alone: no floor
    reached = (area >= min_area_px) | (
        (grown >= min_area_px) & ((grown >= RESCUE_FRACTION * typical) | stands_out))
    undo = ~reached[to]
    components[at_r[undo], at_c[undo]] = 0
    area[reached] = grown[reached]


def _grow_specks_reference(labels: np.ndarray, density: np.ndarray, grows: np.ndarray,
                           peak: np.ndarray, fraction: float) -> np.ndarray:
    """Plain-numpy version of the kernel ``grow_specks``, which tests hold it to."""
    from scipy import ndimage

    growing = np.where(grows[labels], labels, 0)
    best = ndimage.maximum_filter(growing, footprint=_CROSS, mode="constant")
    blocked = ndimage.maximum_filter(np.where(grows[labels], 0, labels), size=3, mode="constant") > 0
    join = (labels == 0) & (best > 0) & ~blocked & (density > fraction * peak[best])
    return np.where(join, best, labels)


def _refine_inputs(labels: np.ndarray, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label: sizeable (at least ``REFINE_MIN_ECD_PX`` across) and peak density."""
    n = int(labels.max())
    area = _areas(labels, n)
    sizeable = 2 * np.sqrt(area / np.pi) >= REFINE_MIN_ECD_PX
    sizeable[0] = False
    peak = _label_max(density, labels, n)
    peak[~np.isfinite(peak)] = 0.0
    return sizeable, peak


def _refine_steps(radius: float) -> int:
    """How many pixels particles of a typical ``radius`` (px) grow by at most when their
    edges are refined: ``REFINE_PIXELS``, more for large ones (``REFINE_REACH``)."""
    return max(REFINE_PIXELS, round(REFINE_REACH * radius))


def _refine_edges(labels: np.ndarray, density: np.ndarray, grow: float, steps: int = REFINE_PIXELS) -> np.ndarray:
    """Place particle edges where the profile puts them (module notes): sizeable particles
    grow to ``grow`` x their own peak (by ``steps`` pixels at most), small ones are cut at
    half theirs."""
    from ._kernels.segment import refine_edges

    sizeable, peak = _refine_inputs(labels, density)
    for _ in range(steps):
        labels = refine_edges(labels, density, sizeable, peak, grow, SMALL_PEAK_FRACTION)
    return labels


def _refine_edges_reference(labels: np.ndarray, density: np.ndarray, grow: float,
                            steps: int = REFINE_PIXELS) -> np.ndarray:
    """Plain-numpy version of :func:`_refine_edges`, which tests hold the kernel to."""
    from scipy import ndimage

    sizeable, peak = _refine_inputs(labels, density)
    for _ in range(steps):
        # one pixel outwards (4-neighbours); a pixel between two particles goes to the larger id
        sizeable_ids = np.where(sizeable[labels], labels, 0)
        grown = ndimage.maximum_filter(sizeable_ids, footprint=_CROSS, mode="constant")
        out = np.where((labels == 0) & (grown > 0) & (density > grow * peak[grown]), grown, labels)
        cut = ~sizeable[labels] & (labels > 0) & (density < SMALL_PEAK_FRACTION * peak[labels])
        labels = np.where(cut, 0, out)
    return labels


def drop_border_labels(labels: np.ndarray) -> np.ndarray:
    """Set to 0 every label that touches the image border (like scikit-image's
    ``clear_border``, without labelling the image again) and number the rest 1..K in the
    order of their ids.

    Parameters
    ----------
    labels : ndarray of int, shape (M, N)
        Label image (0 the background).

    Returns
    -------
    ndarray of int32, shape (M, N)
        The labels kept, numbered 1..K.

    Examples
    --------
    >>> labels = np.array([[1, 0, 0], [0, 3, 0], [0, 0, 0]])
    >>> drop_border_labels(labels)
    array([[0, 0, 0],
           [0, 1, 0],
           [0, 0, 0]], dtype=int32)
    """
    return _drop_labels(labels, _border_ids(labels))


def _drop_labels(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Set to 0 the labels ``ids`` (repeats and 0 allowed) and number the rest 1..K in the
    order of their ids."""
    keep = _areas(np.asarray(labels)) > 0
    keep[ids] = False
    return _renumber(labels, keep)


def _areas(labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Pixels of each label 0..n, as ``np.bincount(labels.ravel())`` gives them (``n``: the
    largest label, found when not given), from a parallel pass."""
    from ._kernels.colorize import chunks
    from ._kernels.segment import label_counts

    if labels.size == 0:
        return np.zeros((n or 0) + 1, dtype=np.int64)
    if n is None:
        n = int(labels.max())
    if labels.min() < 0:
        raise ParameterError("labels must not be negative (0 is background, 1..K the particles)")
    return label_counts(np.ascontiguousarray(labels), max(n, 0), chunks(labels.size))


def _label_max(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Maximum of ``values`` over each label 0..n (-inf where absent), from parallel bands."""
    from ._kernels.colorize import chunks
    from ._kernels.segment import label_max

    return label_max(values, labels, n, chunks(labels.size))


def _label(mask: np.ndarray, *, eight: bool = True) -> tuple[np.ndarray, int]:
    """Connected components of ``mask`` (8- or 4-connectivity) as ``scipy.ndimage.label``
    numbers them (int32 labels, count), from parallel bands of rows."""
    from ._kernels.colorize import chunks
    from ._kernels.segment import label_components

    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.size == 0:
        return np.zeros(mask.shape, dtype=np.int32), 0
    return label_components(mask, eight, 4 * chunks(mask.size))  # several bands per thread


def _border_ids(labels: np.ndarray) -> np.ndarray:
    return np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])


def _renumber(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Labels whose ``keep`` entry is true, numbered 1..K in id order; the rest 0 (int32).
    ``keep`` must be false for ids absent from ``labels``."""
    from ._kernels.segment import relabel

    keep = keep.copy()
    keep[0] = False
    lut = np.where(keep, np.cumsum(keep), 0).astype(np.int32)
    return relabel(np.ascontiguousarray(labels), lut)


#: A blob with at most ``MAX_PARTICLE_HOLES`` holes that, filled, is at least
#: ``HOLE_SOLIDITY`` convex (its pixel count over the area of the convex hull of its pixels
#: as unit squares: 0.97 for a disc 60 px across, 0.88-0.90 for rings of three to six
#: touching discs) is one particle with holes; any other is a cluster whose gaps the split
#: needs. (A large packed aggregate is convex as a whole, but riddled with gaps.)
HOLE_SOLIDITY = 0.95
MAX_PARTICLE_HOLES = 2


#: A hole: its bounding box grown by one pixel (it holds the hole's 4-neighbours) and the
#: hole's pixels within that box.
_Hole = tuple[tuple[slice, slice], np.ndarray]


def _holes(components: np.ndarray, boxes: np.ndarray) -> dict[int, list[_Hole]]:
    """The holes of each blob that has any: background pixels it encloses (4-connected, the
    particles being 8-connected). Euler numbers tell which blobs have holes; each of those
    is searched within its own box (``boxes``, from :func:`label_boxes`)."""
    from scipy import ndimage

    from ._kernels.colorize import chunks
    from ._kernels.segment import euler_numbers

    n = boxes.shape[0] - 1
    if n == 0:
        return {}
    present = boxes[:, 1] > boxes[:, 0]  # ids of removed specks are absent (Euler number 0)
    holed = np.nonzero(present & (euler_numbers(components, n, chunks(components.size)) < 4))[0]
    rows, cols = components.shape
    out: dict[int, list[_Hole]] = {}
    for blob in holed:
        r0, r1, c0, c1 = boxes[blob]
        r0, c0 = max(r0 - 1, 0), max(c0 - 1, 0)
        crop = components[r0:min(r1 + 1, rows), c0:min(c1 + 1, cols)]
        outside, k = ndimage.label(crop != blob)
        enclosed = np.ones(k + 1, dtype=bool)
        enclosed[0] = False
        enclosed[_border_ids(outside)] = False  # reaches past the blob's box or the image edge
        # an enclosed region never touches the crop's edge, so its box grown by one fits
        for region, (rs, cs) in enumerate(ndimage.find_objects(outside), start=1):
            if not enclosed[region]:
                continue
            grown = (slice(rs.start - 1, rs.stop + 1), slice(cs.start - 1, cs.stop + 1))
            pixels = (outside[grown] == region) & (crop[grown] == 0)
            if pixels.any():
                box = (slice(r0 + grown[0].start, r0 + grown[0].stop),
                       slice(c0 + grown[1].start, c0 + grown[1].stop))
                out.setdefault(int(blob), []).append((box, pixels))
    return out


def _around(labels: np.ndarray, hole: _Hole) -> np.ndarray:
    """The particle ids on and around a hole (4-neighbours)."""
    from scipy import ndimage

    box, region = hole
    near = labels[box][ndimage.binary_dilation(region, structure=_CROSS)]
    return np.unique(near[near > 0])


def _fill_convex_holes(components: np.ndarray, holes: dict[int, list[_Hole]],
                       boxes: np.ndarray) -> list[_Hole]:
    """Fill, in place, the holes of blobs that are one particle with holes (see
    ``HOLE_SOLIDITY``); return the holes left (gaps in clusters)."""
    left = []
    for blob, own in holes.items():
        if len(own) > MAX_PARTICLE_HOLES:
            left.extend(own)
            continue
        r0, r1, c0, c1 = boxes[blob]
        filled = components[r0:r1, c0:c1] == blob
        for (rs, cs), pixels in own:  # holes lie inside their blob's box
            filled[rs.start - r0:rs.stop - r0, cs.start - c0:cs.stop - c0] |= pixels
        if filled.sum() >= HOLE_SOLIDITY * _hull_area(filled):
            for box, pixels in own:
                components[box][pixels] = blob
        else:
            left.extend(own)
    return left


def _hull_area(region: np.ndarray) -> float:
    """Area of the convex hull of a region's pixels, taken as unit squares."""
    from scipy import ndimage
    from scipy.spatial import ConvexHull

    rows, cols = np.nonzero(region & ~ndimage.binary_erosion(region))  # hull corners lie on the edge
    corners = np.concatenate([np.stack([rows + dr, cols + dc], axis=1) for dr in (0, 1) for dc in (0, 1)])
    return float(ConvexHull(corners).volume)  # in 2-D, the volume is the area


def _fill_particle_holes(labels: np.ndarray, holes: list[_Hole]) -> None:
    """Give, in place, each hole the split left inside one particle that particle's label;
    a gap enclosed by several particles stays background."""
    for hole in holes:
        ids = _around(labels, hole)
        if ids.size == 1:
            box, region = hole
            labels[box][region] = ids[0]


def _peak_markers(surface: np.ndarray, mask: np.ndarray, components: np.ndarray,
                  min_distance: float) -> np.ndarray:
    """Seeds at the local maxima of ``surface``; maxima of one blob closer than
    ``min_distance`` (and plateaus) become one seed."""
    from ._kernels.segment import local_peaks

    size = 2 * max(1, int(round(min_distance))) + 1
    rows, cols = local_peaks(surface, maximum(surface, size), mask)
    seeds = np.zeros(surface.shape, dtype=np.int32)
    seeds[rows, cols] = np.arange(1, rows.size + 1)
    return _merge_close(seeds, components, min_distance, where=(rows, cols))


def _scale_seeds(surface: np.ndarray, edm: np.ndarray, components: np.ndarray,
                 maxima: tuple[np.ndarray, np.ndarray], min_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """Seeds of the ``"shape"`` split, as rows and columns: the local ``maxima`` of ``surface``
    in the mask at least ``min_depth`` inside it (``edm``, its distance map), each the highest
    within its own window and parted by a valley from the higher seeds of its blob (see
    ``PEAK_WINDOW``). Blobs without seeds become one particle each."""
    from ._kernels.segment import select_seeds

    rows, cols = maxima
    deep = edm[rows, cols] >= np.float32(min_depth)
    rows, cols = rows[deep], cols[deep]
    if rows.size == 0:
        return rows, cols
    blob = components[rows, cols]
    order = np.lexsort((-surface[rows, cols], blob))  # by blob, highest first
    rows, cols, blob = rows[order], cols[order], blob[order]
    starts = np.flatnonzero(np.r_[True, blob[1:] != blob[:-1], True])
    keep = select_seeds(surface, rows, cols, starts, edm[rows, cols], PEAK_WINDOW, VALLEY_DEPTH,
                        VALLEY_REACH)
    return rows[keep], cols[keep]


def _watershed_by_component(surface: np.ndarray, seeds: np.ndarray, components: np.ndarray,
                            boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flood ``-surface`` from the seeds inside each blob; only blobs with several seeds
    need a watershed, and it runs on their bounding box alone (``boxes``), blobs in parallel.
    Returns the labels and the ids of the blobs so split."""
    from ._kernels.segment import flood_blobs, relabel

    n = int(components.max())
    labels = np.zeros(components.shape, dtype=np.int32)
    if n == 0:
        return labels, np.zeros(0, dtype=np.int64)
    where = seeds > 0
    top = np.int64(seeds.max()) + 1  # (blob, seed) pairs as one key: a 1-D unique is fast
    keys = np.unique(components[where].astype(np.int64) * top + seeds[where])
    pairs = np.stack([keys // top, keys % top])
    per_blob = np.bincount(pairs[0], minlength=n + 1)
    one_seed = np.zeros(n + 1, dtype=np.int32)
    single = pairs[:, per_blob[pairs[0]] == 1]
    one_seed[single[0]] = single[1]
    next_id = int(seeds.max()) + 1
    unseeded = np.nonzero(per_blob == 0)[0][1:]  # a blob the markers missed is still a particle
    one_seed[unseeded] = np.arange(next_id, next_id + unseeded.size)
    labels = relabel(components, one_seed)
    blobs = np.nonzero(per_blob > 1)[0]
    if blobs.size:
        box = boxes[blobs]
        # the largest blobs first, so no thread is left with a big one at the end
        order = np.argsort(-(box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2]), kind="stable")
        flood_blobs(-surface, seeds, components, blobs[order], box[order], labels)
    return labels, blobs


def _merge_slivers(labels: np.ndarray, components: np.ndarray, spared: np.ndarray) -> None:
    """Give, in place, each particle that is a sliver, not a near-sphere, to the neighbour
    it borders most, where it borders it along its length: one whose largest inscribed
    circle has a radius under ``SLIVER_FATNESS`` x its equivalent radius, and that is
    smaller than another particle split from the same blob of ``components``. A sliver
    with no neighbour stays (a rod is no sliver of anything), as do the ``spared`` ids
    (the rods and fibres joined) and a sliver that meets its neighbour at an end only
    (a fibre's piece beside a sphere on it; see ``SLIVER_CONTACT``)."""
    from scipy import ndimage

    from ._kernels.segment import inscribed_radii

    n = int(labels.max())
    if n == 0:
        return
    area = _areas(labels, n)
    blob = _label_max(components, labels, n)  # the blob each came from
    blob = np.where(np.isfinite(blob), blob, 0).astype(np.int64)
    largest = np.zeros(int(blob.max()) + 1, dtype=np.int64)
    np.maximum.at(largest, blob[1:], area[1:])
    ids = np.setdiff1d(np.flatnonzero((blob > 0) & (area < largest[blob])), spared)
    boxes = _boxes_around(labels, n, ids, 1)
    radii = inscribed_radii(labels, ids, boxes)
    thin = radii < SLIVER_FATNESS * np.sqrt(area[ids] / np.pi)
    ring = np.ones((3, 3), dtype=bool)
    for k, radius, (r0, r1, c0, c1) in zip(ids[thin], radii[thin], boxes[thin]):
        window = labels[r0:r1, c0:c1]
        own = window == k
        beside = window[ndimage.binary_dilation(own, structure=ring) & ~own]
        beside = np.bincount(beside[(beside > 0) & (beside != k)])
        if beside.size and beside.max() >= SLIVER_CONTACT * 2 * radius:
            window[own] = beside.argmax()


#: Two pieces that the split parted are one particle again where their contact is as wide
#: as the thinner of them (its half-width, the blobs' distance map along it, at least
#: ``ROD_NECK`` x the smaller of their largest inscribed radii in the same map), the
#: thinner is not much thinner than the other (its radius at least ``ROD_EVEN`` x the
#: other's: a sphere on a fibre meets it along the fibre's width, and had been taken into
#: it), the density does not dip along it (its highest at least ``1 - ROD_DIP`` x the lower
#: of their peaks, the density smoothed as the landscape's is) and together they are more
#: elongated than two spheres make (aspect ratio of their moments' ellipse over
#: ``ROD_ASPECT``; two discs touching at a point make sqrt(5) = 2.24, at a contact that
#: wide about 1.7); then again with the pieces so joined. These are the cuts of a rod, a
#: needle or a fibre, the ridge of whose distance map is level (their density clipped at
#: the mineral's level) and bumpy with its pixel steps. A 1024 px field of 25 lone prolate
#: ellipsoids 6 times as long as thick came out in 56, 41 and 40 particles (8, 12 and 16 px
#: thick), now in 25; the pieces are round enough to pass a circularity filter. Shorter
#: thin ones may still be cut (5 times as long, 10 px thick: 8 spheroids in 10 particles on
#: half of six fields, were 10-12). The scenarios and BAM's micrographs are unchanged but
#: for the tiny field, whose F1 is 0.001 lower as a composite (0.928 -> 0.927) and on three
#: other seeds, for this and ``SLIVER_CONTACT``, more without the dip's test or
#: ``ROD_EVEN``; at an aspect ratio of 2.6 its pair lost 0.001 on four seeds.
ROD_NECK = 0.75
ROD_EVEN = 0.7
ROD_DIP = 0.05
ROD_ASPECT = 2.8
#: A curved fibre is cut into short pieces, each about as long as the fibre is wide, and two
#: of them are no longer than two spheres: those join where they are links of a chain of
#: ``FIBRE_LINKS`` or more such contacts (no neck, no dip, as ``ROD_NECK``) between pieces of
#: one width: the contact as wide as the thicker of the two, but for ``FIBRE_SLACK_PX`` (a
#: pixel step of the distance map along a curve), and their largest inscribed radii
#: within ``FIBRE_EVEN`` of each other. Arcs 10 and 16 px wide, bent through 216 degrees at
#: radii of 40 and 80 px, 16 of each kind in a 1024 px field, came out in 96-144 particles
#: (220-437 before the rods' join), now in 16, 18, 16 and 24. The scenarios (four seeds of
#: the crowded, tiny and polydisperse fields) and BAM's micrographs are unchanged; chains
#: of two links cost the crowded field's composite 0.005 in F1. The particles so made are
#: no slivers (``_merge_slivers``).
FIBRE_LINKS = 3
FIBRE_SLACK_PX = 1.0
FIBRE_EVEN = 0.85


def _piece_contacts_reference(labels: np.ndarray, lut: np.ndarray, components: np.ndarray, blobs: np.ndarray,
                              edm: np.ndarray, density: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Plain-numpy version of the kernel ``piece_contacts``, which tests hold it to (its
    contacts in raster order over the whole image)."""
    pieces = np.where(np.isin(components, blobs), lut[labels], 0)
    inscribed, peak = np.full(n + 1, -np.inf), np.full(n + 1, -np.inf)
    inside = pieces > 0
    np.maximum.at(inscribed, pieces[inside], edm[inside])
    np.maximum.at(peak, pieces[inside], density[inside])
    rr, cc = np.indices(labels.shape)
    sums = np.stack([np.bincount(pieces[inside], weights, minlength=n + 1) for weights in
                     (None, rr[inside], cc[inside], rr[inside] ** 2, cc[inside] ** 2, rr[inside] * cc[inside])], axis=1)
    cols = labels.shape[1]
    order, parts = [], []
    for step, (here, there) in enumerate((((slice(None), slice(0, -1)), (slice(None), slice(1, None))),
                                          ((slice(0, -1), slice(None)), (slice(1, None), slice(None))))):
        a, b = pieces[here], pieces[there]
        meet = (a != b) & (a > 0) & (b > 0)
        r, c = np.nonzero(meet)
        order.append(2 * (r * cols + c) + step)  # raster order, the right neighbour first
        parts.append((np.minimum(a[meet], b[meet]), np.maximum(a[meet], b[meet]),
                      np.minimum(edm[here][meet], edm[there][meet]),
                      np.minimum(density[here][meet], density[there][meet]), components[here][meet]))
    sort = np.argsort(np.concatenate(order), kind="stable")
    *contacts, blob = (np.concatenate(column)[sort] for column in zip(*parts))
    start = np.r_[0, np.cumsum([np.count_nonzero(blob == k) for k in blobs])]
    return (inscribed, peak, sums, *contacts, start)


def _groups(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """The group of each id 0..n that the pairs ``a``-``b`` link (an id alone, its own)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    return connected_components(coo_matrix((np.ones(a.size), (a, b)), shape=(n + 1, n + 1)), directed=False)[1]


def _merge_elongated(labels: np.ndarray, components: np.ndarray, blobs: np.ndarray, boxes: np.ndarray,
                     edm: np.ndarray, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make pieces of ``blobs`` (ids of ``components``, within ``boxes``) that meet without a
    neck or a dip of ``density`` one particle where together they are too elongated for two
    spheres, or where they are links of a chain of one width (see ``ROD_NECK``); ``edm`` is
    the blobs' distance map. Returns the labels and the ids of the particles so made."""
    from ._kernels.segment import piece_contacts, relabel

    n = int(labels.max(initial=0))
    lut = np.arange(n + 1, dtype=np.int32)  # each label's particle: joined pieces take the lowest id of theirs
    made = np.zeros(n + 1, dtype=bool)
    while blobs.size:  # until no pieces join: the pieces of a rod cut in three join in turn
        inscribed, peak, sums, first, second, neck, level, start = piece_contacts(labels, lut, components, blobs,
                                                                                  boxes, edm, density, n)
        top = np.int64(n) + 1
        pairs, at, where = np.unique(first.astype(np.int64) * top + second, return_index=True, return_inverse=True)
        half_width = np.full(pairs.size, -np.inf)
        np.maximum.at(half_width, where, neck)
        along = np.full(pairs.size, -np.inf)
        np.maximum.at(along, where, level)
        a, b = pairs // top, pairs % top
        blob = np.searchsorted(start, at, side="right") - 1  # which of the blobs each pair is in
        thin, thick = np.minimum(inscribed[a], inscribed[b]), np.maximum(inscribed[a], inscribed[b])
        join = ((half_width >= ROD_NECK * thin) & (thin >= ROD_EVEN * thick)
                & (along >= (1 - ROD_DIP) * np.minimum(peak[a], peak[b])))
        a, b, blob, half_width, thin, thick = a[join], b[join], blob[join], half_width[join], thin[join], thick[join]
        both = sums[a] + sums[b]  # count, sums of r, c, rr, cc, rc of the two together
        mean_r, mean_c = both[:, 1] / both[:, 0], both[:, 2] / both[:, 0]
        mu_rr = both[:, 3] / both[:, 0] - mean_r**2 + 1 / 12  # pixels as unit squares
        mu_cc = both[:, 4] / both[:, 0] - mean_c**2 + 1 / 12
        mu_rc = both[:, 5] / both[:, 0] - mean_r * mean_c
        half_trace, diff = (mu_rr + mu_cc) / 2, np.sqrt(((mu_rr - mu_cc) / 2) ** 2 + mu_rc**2)
        elongated = half_trace + diff > ROD_ASPECT**2 * (half_trace - diff)
        link = (half_width >= thick - FIBRE_SLACK_PX) & (thin >= FIBRE_EVEN * thick)  # a fibre's, maybe
        chain = _groups(a[link], b[link], n)
        pieces = np.bincount(chain[np.unique(np.r_[a[link], b[link]])], minlength=chain.max() + 1)
        link &= pieces[chain[a]] >= FIBRE_LINKS + 1
        joined = elongated | link
        if not joined.any():
            break
        group = _groups(a[joined], b[joined], n)
        lowest = np.full(group.max() + 1, n + 1)
        np.minimum.at(lowest, group, np.arange(n + 1))
        made[lowest[group[made]]] = True  # made before, under its new id
        made[lowest[group[np.r_[a[joined], b[joined]]]]] = True
        lut = lowest[group][lut].astype(np.int32)
        again = np.unique(blob[joined])  # only where pieces joined can more join
        blobs, boxes = blobs[again], boxes[again]
    return (relabel(labels, lut) if made.any() else labels), np.flatnonzero(made)


def _boxes_around(labels: np.ndarray, n: int, ids: np.ndarray, margin: int) -> np.ndarray:
    """The bounding boxes of labels ``ids`` (of 1..n), as ``label_boxes`` gives them,
    widened by ``margin`` pixels on every side within the image."""
    from ._kernels.segment import label_boxes

    rows, cols = labels.shape
    boxes = label_boxes(labels, n)[ids] + np.array([-1, 1, -1, 1]) * margin
    return np.clip(boxes, 0, [rows, rows, cols, cols])


def _inscribed_radii_reference(labels: np.ndarray, ids: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Plain-numpy version of the kernel ``inscribed_radii``, which tests hold it to."""
    from scipy import ndimage

    return np.array([ndimage.distance_transform_edt(labels[r0:r1, c0:c1] == k).max()
                     for k, (r0, r1, c0, c1) in zip(ids, boxes)], dtype=np.float64)


def _merge_close(seeds: np.ndarray, components: np.ndarray, min_distance: float,
                 where: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Merge seed regions of one blob whose centroids lie closer than ``min_distance``, in
    place; ``where``, the seed pixels' coordinates, spares a scan of the image when known."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    rows, cols = np.nonzero(seeds) if where is None else where  # few pixels: work on them alone
    ids = seeds[rows, cols]
    n = int(ids.max()) if ids.size else 0
    if n < 2:
        return seeds
    count = np.maximum(np.bincount(ids, minlength=n + 1), 1)
    centres = np.stack([np.bincount(ids, rows, n + 1) / count, np.bincount(ids, cols, n + 1) / count], axis=1)[1:]
    blob = np.zeros(n + 1, dtype=np.int64)
    blob[ids] = components[rows, cols]
    # only seeds of one blob merge: a distance beyond the widest spread of a blob's seeds
    # adds nothing but pairs of seeds in other blobs (millions, for a slip of the unit)
    low = np.full((int(blob.max()) + 1, 2), np.inf)
    high = -low
    np.minimum.at(low, blob[1:], centres)
    np.maximum.at(high, blob[1:], centres)
    seen = np.isfinite(low[:, 0])
    seen[0] = False  # ids without pixels
    reach = float(np.hypot(*(high[seen] - low[seen]).T).max()) if seen.any() else 0.0
    pairs = cKDTree(centres).query_pairs(min(min_distance, reach + 1), output_type="ndarray")
    pairs = pairs[blob[pairs[:, 0] + 1] == blob[pairs[:, 1] + 1]]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    seeds[rows, cols] = group[ids - 1] + 1
    return seeds
