"""Segment particles on a density map and split touching spherules.

The mask is a global threshold of the density map (Otsu by default), holes filled and
specks removed. Touching particles are then split by a marker-controlled watershed:

``split="edm"``
    ImageJ's *Binary > Watershed*: markers are the maxima of the Euclidean distance map
    that stand at least 0.5 px above their surroundings (h-maxima), flooded on the
    inverted distance map.
``split="shape"`` (default)
    What the data tell beyond the binary mask. The particles are near-spheres and their
    density (BSE, or brightness) peaks at their centres and dips in the gap between
    touching neighbours, so the landscape is the (lightly smoothed) distance map
    multiplied by the density smoothed at a scale of the typical particle radius (the
    median over blobs of their largest inscribed circle). Markers are its local maxima at
    least half that radius apart (or ``min_distance``).
``split="none"``
    Connected components only.

User markers (a label image of seeds) replace the automatic ones.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .errors import ParameterError

__all__ = ["segment_particles", "threshold_value", "THRESHOLDS"]

THRESHOLDS = ("otsu", "li", "yen", "triangle")


def threshold_value(image: np.ndarray, method: str | float = "otsu") -> float:
    """Global threshold of ``image`` by name (``otsu``, ``li``, ``yen``, ``triangle``) or value.

    Examples
    --------
    >>> x = np.r_[np.zeros(50), np.ones(50)]
    >>> 0 < threshold_value(x) < 1, threshold_value(x, 0.3)
    (True, 0.3)
    """
    if isinstance(method, (int, float, np.floating)) and not isinstance(method, bool):
        return float(method)
    from skimage import filters

    functions = {
        "otsu": filters.threshold_otsu,
        "li": filters.threshold_li,
        "yen": filters.threshold_yen,
        "triangle": filters.threshold_triangle,
    }
    if method not in functions:
        raise ParameterError(f"threshold must be one of {THRESHOLDS} or a number, not {method!r}")
    return float(functions[method](np.asarray(image)))


def _h_maxima_markers(surface: np.ndarray, mask: np.ndarray, h: np.ndarray | float) -> np.ndarray:
    """Label regional maxima of ``surface`` standing at least ``h`` above their saddles.

    ``h`` may vary per pixel (a fraction of the local particle radius): a maximum is kept
    when it survives reconstruction by dilation of ``surface - h``.
    """
    from scipy import ndimage
    from skimage.morphology import reconstruction

    seed = np.where(mask, surface - h, 0.0)
    rec = reconstruction(np.minimum(seed, surface), surface, method="dilation")
    peaks = mask & (surface - rec >= np.minimum(h, surface) - 1e-6)
    markers, _ = ndimage.label(peaks, structure=np.ones((3, 3)))
    return markers


def segment_particles(
    density: np.ndarray,
    *,
    threshold: str | float = "otsu",
    split: Literal["shape", "edm", "none"] = "shape",
    min_area: float = 9.0,
    min_distance: float | None = None,
    pixel_size_nm: float | None = None,
    markers: np.ndarray | None = None,
    fill_holes: bool = True,
    exclude_border: bool = True,
    smooth_sigma: float = 1.0,
) -> np.ndarray:
    """Label the particles of a density map, splitting touching ones.

    Parameters
    ----------
    density : ndarray, shape (M, N)
        Density map (particles high), e.g. from :func:`ddcsem.density_map`.
    threshold : {"otsu", "li", "yen", "triangle"} or float, optional
        Global threshold method or value.
    split : {"shape", "edm", "none"}, optional
        How touching particles are split (see the module notes).
    min_area : float, optional
        Smallest particle kept: in nm² when ``pixel_size_nm`` is given, else in px².
    min_distance : float, optional
        Smallest distance between two particle centres: nm with ``pixel_size_nm``, else px.
    pixel_size_nm : float, optional
        Calibration for ``min_area`` and ``min_distance``.
    markers : ndarray of int, shape (M, N), optional
        Seeds (one label per particle) that replace the automatic markers.
    fill_holes : bool, optional
        Fill holes inside particles.
    exclude_border : bool, optional
        Drop particles that touch the image border.
    smooth_sigma : float, optional
        Gaussian smoothing of the density before thresholding, px (a density map from
        :func:`ddcsem.density_map` is already denoised).

    Returns
    -------
    ndarray of int32, shape (M, N)
        Particle labels 1..K (0 background), numbered in raster order.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:60, 0:100]
    >>> two = ((yy - 30) ** 2 + (xx - 35) ** 2 < 15 ** 2) | ((yy - 30) ** 2 + (xx - 62) ** 2 < 15 ** 2)
    >>> int(segment_particles(two.astype(float)).max())        # touching discs are split
    2
    >>> int(segment_particles(two.astype(float), split="none").max())
    1
    """
    from scipy import ndimage
    from skimage.segmentation import clear_border, watershed

    d = np.asarray(density, dtype=np.float32)
    if d.ndim != 2:
        raise ParameterError(f"density must be 2-D, got shape {d.shape}")
    if split not in ("shape", "edm", "none"):
        raise ParameterError(f"split must be 'shape', 'edm' or 'none', not {split!r}")
    scale = 1.0 if pixel_size_nm is None else float(pixel_size_nm)
    min_area_px = float(min_area) / scale**2
    min_distance_px = None if min_distance is None else float(min_distance) / scale

    smooth = ndimage.gaussian_filter(d, smooth_sigma) if smooth_sigma else d
    mask = smooth > threshold_value(smooth, threshold)
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    components, n = ndimage.label(mask)
    if n:
        area = np.bincount(components.ravel())
        mask &= (area >= min_area_px)[components]

    if split == "none" and markers is None:
        labels, _ = ndimage.label(mask)
    else:
        edm = ndimage.distance_transform_edt(mask).astype(np.float32)
        components, n = ndimage.label(mask)
        if split == "edm" and markers is None:
            surface = edm
            seeds = _h_maxima_markers(edm, mask, 0.5)
        else:
            # typical radius: median over blobs of their largest inscribed circle
            radius = float(np.median(ndimage.maximum(edm, components, np.arange(1, n + 1)))) if n else 1.0
            density_s = ndimage.gaussian_filter(d, max(0.5, 0.4 * radius))
            top = float(np.percentile(density_s[mask], 99)) if mask.any() else 1.0
            # centres are deep inside the mask and dense; necks and gaps are neither
            surface = ndimage.gaussian_filter(edm, 1.0) * np.clip(density_s / max(top, 1e-6), 0.05, 1.0)
            distance = min_distance_px if min_distance_px else max(1.0, 0.5 * radius)
            seeds = _peak_markers(surface, components, distance)
        if markers is not None:
            seeds = np.asarray(markers)
            if seeds.shape != d.shape:
                raise ParameterError(f"markers must have the shape of density {d.shape}, not {seeds.shape}")
            seeds = np.where(mask, seeds, 0)
        elif min_distance_px and split == "edm":
            seeds = _merge_close(seeds, min_distance_px)
        labels = watershed(-surface, seeds, mask=mask)
        # a region the markers missed is still a particle
        missed, _ = ndimage.label(mask & (labels == 0))
        labels = np.where(missed > 0, missed + labels.max(), labels)
    if exclude_border:
        labels = clear_border(labels)
    if labels.max():
        area = np.bincount(labels.ravel())
        labels[(area < min_area_px)[labels]] = 0
    from skimage.segmentation import relabel_sequential

    return relabel_sequential(labels.astype(np.int32))[0]


def _peak_markers(surface: np.ndarray, components: np.ndarray, min_distance: float) -> np.ndarray:
    """One seed per local maximum of ``surface`` at least ``min_distance`` px apart."""
    from skimage.feature import peak_local_max

    coords = peak_local_max(surface, min_distance=max(1, int(round(min_distance))),
                            labels=components, exclude_border=False)
    seeds = np.zeros(surface.shape, dtype=np.int32)
    seeds[tuple(coords.T)] = np.arange(1, len(coords) + 1)
    return seeds


def _merge_close(seeds: np.ndarray, min_distance: float) -> np.ndarray:
    """Merge seed regions whose centroids lie closer than ``min_distance``."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    n = int(seeds.max())
    if n < 2:
        return seeds
    centres = np.array(ndimage.center_of_mass(np.ones_like(seeds), seeds, np.arange(1, n + 1)))
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in cKDTree(centres).query_pairs(min_distance):
        parent[find(a + 1)] = find(b + 1)
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[seeds] * (seeds > 0)
