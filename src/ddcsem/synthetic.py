"""Physics-based synthetic SE/BSE pairs with ground truth.

Hydroxyapatite spheres (backscatter yield about 0.16) lie in a collagen-like matrix
(about 0.07). The model, per pixel:

* thickness of mineral ``t``: the chord ``2 sqrt(r^2 - rho^2)`` of the sphere under the beam;
* BSE yield ``eta = eta_m + (eta_p - eta_m) (1 - exp(-t / t_s))`` with ``t_s`` = 0.3 x the
  Kanaya-Okayama range in hydroxyapatite, so small spheres are partial-volume dim;
* SE yield ``delta = delta_0 / cos(theta)^n (1 + beta eta)``: edge brightening on the sphere
  flanks (``cos theta = sqrt(1 - rho^2 / r^2)``, clamped) plus SE2 excited by backscatter;
* counts ``Poisson(N0 yield efficiency)`` at a dose of ``N0`` electrons per pixel, a Gaussian
  probe/detector blur, per-line offsets (scan-line noise), optional shading and data bar.

Sizes are log-normal; a fraction of the particles is placed in touching clusters. The
label image gives each pixel to the sphere whose surface is highest there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._repr import dataclass_repr
from .errors import ParameterError, require_positive, require_switch
from .units import require_pixel_size

__all__ = ["SyntheticPair", "make_pair", "backscatter_yield", "ko_range_nm"]

ETA_HYDROXYAPATITE = 0.161
ETA_COLLAGEN = 0.068


def backscatter_yield(z: float) -> float:
    """Reuter's fit of the backscatter coefficient of an element of atomic number ``z``.

    Examples
    --------
    >>> round(backscatter_yield(20), 3)   # calcium
    0.227
    """
    return max(0.0, -0.0254 + 0.016 * z - 1.86e-4 * z**2 + 8.3e-7 * z**3)


def ko_range_nm(kev: float, *, a: float = 28.3, z: float = 14.07, rho: float = 3.16) -> float:
    """Kanaya-Okayama electron range in nm (default: hydroxyapatite).

    Examples
    --------
    >>> round(ko_range_nm(10.0))   # about 1.1 µm in hydroxyapatite at 10 keV
    1102
    """
    return 1000.0 * 0.0276 * a * kev**1.67 / (z**0.889 * rho)


@dataclass(frozen=True, eq=False)
class SyntheticPair:
    """A synthetic SE/BSE pair and its ground truth.

    Attributes
    ----------
    se, bse : ndarray, shape (M, N)
        The channels (rows of a data bar included when one was asked for).
    labels : ndarray, shape (M', N), int32
        Particle labels 1..K of the image area (without data bar); 0 is matrix.
    centers : ndarray, shape (K, 2)
        Particle centres (row, col) in pixels; row k is label k + 1.
    diameters_nm : ndarray, shape (K,)
        True sphere diameters.
    pixel_size_nm : float
        Pixel size.
    databar_rows : int
        Rows of data bar at the bottom of ``se`` and ``bse``.

    Examples
    --------
    >>> syn = make_pair(shape=(128, 128), n_particles=5, seed=0)
    >>> syn.bse.shape, int(syn.labels.max()) == len(syn.centers) == len(syn.diameters_nm)
    ((128, 128), True)
    >>> bool(np.allclose(syn.diameters_px * syn.pixel_size_nm, syn.diameters_nm))
    True
    """

    se: np.ndarray
    bse: np.ndarray
    labels: np.ndarray
    centers: np.ndarray
    diameters_nm: np.ndarray
    pixel_size_nm: float
    databar_rows: int = 0

    __repr__ = dataclass_repr

    @property
    def diameters_px(self) -> np.ndarray:
        """True diameters in pixels."""
        return self.diameters_nm / self.pixel_size_nm


#: After this many spheres in a row find no room, the field is full (the synthetic
#: scenarios of the accuracy benchmark have at most one in a row, and 1 of 4,900 none).
FULL_AFTER = 20


def _place(rng, shape, radii, clustered):
    """Centres for spheres of ``radii`` (px): free ones apart, clustered ones touching another.

    Returns the centres and the indices of the spheres that found room, and whether the
    field filled up (``FULL_AFTER`` spheres in a row found none: the rest are not tried,
    200 times each in Python, which 100,000 spheres asked of a 512² field took
    minutes over). A try is checked
    against the spheres in its cell of a grid and the eight around it, whose cells are as
    wide as the farthest reach of the check (``2.3`` x the largest radius): the spheres
    further away cannot refuse it, so the result is that of checking them all (the same
    spheres in the same places), in time that grows with the number of spheres rather
    than its square (40,000 spheres of 10 px in a 4096² field: 6 s, where checking all
    took about 6 minutes).
    """
    centers = np.zeros((radii.size, 2))
    kept: list[int] = []
    rows, cols = shape
    cell = 2.3 * float(radii.max()) if radii.size else 1.0
    grid: dict[tuple[int, int], list[int]] = {}
    failed = 0  # spheres in a row that found no room
    for i, r in enumerate(radii):
        if failed == FULL_AFTER:
            return centers[kept], np.array(kept, dtype=np.int64), True
        failed += 1
        for _ in range(200):
            if clustered[i] and kept:
                j = kept[rng.integers(len(kept))]
                angle = rng.uniform(0, 2 * np.pi)
                dist = (radii[j] + r) * rng.uniform(0.88, 1.0)  # touching, slightly merged
                c = centers[j] + dist * np.array([np.sin(angle), np.cos(angle)])
            else:
                c = np.array([rng.uniform(0, rows), rng.uniform(0, cols)])
            if not (0 <= c[0] < rows and 0 <= c[1] < cols):
                continue
            at = int(c[0] // cell), int(c[1] // cell)
            near = [j for dr in (-1, 0, 1) for dc in (-1, 0, 1) for j in grid.get((at[0] + dr, at[1] + dc), ())]
            if near:
                d = np.hypot(*(centers[near] - c).T)
                limit = (radii[near] + r) * (0.85 if clustered[i] else 1.15)
                if np.any(d < limit):
                    continue
            centers[i] = c
            kept.append(i)
            grid.setdefault(at, []).append(i)
            failed = 0
            break
    return centers[kept], np.array(kept, dtype=np.int64), False


def _fibres(rng, shape, scale):
    """Collagen-like texture: anisotropic smoothed noise in [-1, 1]."""
    from scipy import ndimage

    noise = rng.standard_normal(shape)
    tex = ndimage.gaussian_filter(noise, sigma=(scale * 0.4, scale * 2.0))
    return tex / (np.abs(tex).max() + 1e-12)


def _databar(rows: int, cols: int, level: int, rng) -> np.ndarray:
    """A vendor-like info bar: 1-px dark line, light panel with dark 'text' blocks."""
    bar = np.full((rows, cols), level, dtype=np.float64)
    bar[0] = 0
    for x in range(int(cols * 0.05), int(cols * 0.7), max(4, cols // 40)):
        h = rng.integers(rows // 4, rows // 2)
        bar[rows // 3: rows // 3 + h, x: x + max(2, cols // 80)] = 0
    bar[-rows // 4: -rows // 4 + 2, int(cols * 0.75): int(cols * 0.95)] = 0  # scale bar
    return bar


def make_pair(
    shape: tuple[int, int] = (512, 512),
    *,
    pixel_size_nm: float = 20.0,
    n_particles: int | None = None,
    median_diameter_nm: float = 400.0,
    sigma_ln: float = 0.35,
    clustered_fraction: float = 0.3,
    dose: float = 600.0,
    kev: float = 10.0,
    blur_px: float = 0.8,
    line_noise: float = 0.01,
    shading: float = 0.0,
    databar: bool = False,
    dtype: type | np.dtype = np.uint8,
    seed: int | None = None,
) -> SyntheticPair:
    """Make a synthetic DDC-SEM pair with known particles.

    Parameters
    ----------
    shape : (int, int), optional
        Image area (rows, cols), without data bar.
    pixel_size_nm : float, optional
        Pixel size.
    n_particles : int, optional
        Number of spheres; default fills about 12 % of the area.
    median_diameter_nm, sigma_ln : float, optional
        Log-normal size distribution (median and sigma of ln d).
    clustered_fraction : float, optional
        Fraction of spheres placed touching another one.
    dose : float, optional
        Electrons per pixel (sets the shot noise).
    kev : float, optional
        Beam energy (sets the partial-volume depth).
    blur_px : float, optional
        Gaussian probe/detector blur (sigma, px).
    line_noise : float, optional
        Relative per-line offset (scan-line noise).
    shading : float, optional
        Relative brightness drop across the field (uneven illumination).
    databar : bool, optional
        Append a vendor-like information bar (about 8 % of the rows).
    dtype : {uint8, uint16, float32}, optional
        Pixel type of the channels.
    seed : int, optional
        Random seed (same seed, same pair).

    Returns
    -------
    SyntheticPair

    Examples
    --------
    >>> pair = make_pair(shape=(128, 160), n_particles=10, seed=0)
    >>> pair.se.shape, int(pair.labels.max()), pair.centers.shape
    ((128, 160), 10, (10, 2))
    >>> bool(pair.bse[pair.labels > 0].mean() > pair.bse[pair.labels == 0].mean())
    True
    """
    from scipy import ndimage

    if np.ndim(shape) != 1 or len(shape) != 2 or min(int(s) for s in shape) < 8:
        raise ParameterError(f"shape must be (rows, cols), at least 8 x 8, not {shape!r}")
    rows, cols = (int(s) for s in shape)
    require_pixel_size(pixel_size_nm)
    for name, value in (("median_diameter_nm", median_diameter_nm), ("dose", dose), ("kev", kev)):
        require_positive(value, name)
    for name, value in (("sigma_ln", sigma_ln), ("blur_px", blur_px), ("line_noise", line_noise)):
        require_positive(value, name, zero=True)
    for name, value in (("clustered_fraction", clustered_fraction), ("shading", shading)):
        if not 0 <= value <= 1:
            raise ParameterError(f"{name} must be a fraction from 0 to 1, not {value!r}")
    databar = require_switch(databar, "databar")
    if n_particles is not None and (isinstance(n_particles, bool) or not isinstance(n_particles, (int, np.integer))
                                    or n_particles < 0):
        raise ParameterError(f"n_particles must be a whole number 0 or more, not {n_particles!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16, np.float32):
        raise ParameterError(f"dtype must be uint8, uint16 or float32, not {dtype}")
    rng = np.random.default_rng(seed)
    median_px = median_diameter_nm / pixel_size_nm
    if n_particles is None:
        mean_area = np.pi / 4 * median_px**2 * np.exp(2 * sigma_ln**2)
        n_particles = max(1, int(0.12 * rows * cols / mean_area))
    diam_px = np.clip(rng.lognormal(np.log(median_px), sigma_ln, n_particles), 2.0, min(rows, cols) / 3)
    radii = diam_px / 2
    clustered = rng.random(n_particles) < clustered_fraction
    centers, kept, full = _place(rng, (rows, cols), radii, clustered)
    radii = radii[kept]
    k = kept.size
    if full:
        warnings.warn(f"the field is full: {k} of the {n_particles} spheres asked for found room", stacklevel=2)

    height = np.zeros((rows, cols))  # chord through the highest sphere, px
    cos_theta = np.ones((rows, cols))
    labels = np.zeros((rows, cols), dtype=np.int32)
    for i, ((cy, cx), r) in enumerate(zip(centers, radii)):
        r0, r1 = max(0, int(cy - r - 1)), min(rows, int(cy + r + 2))
        c0, c1 = max(0, int(cx - r - 1)), min(cols, int(cx + r + 2))
        if r0 >= r1 or c0 >= c1:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1]
        rho2 = (yy - cy) ** 2 + (xx - cx) ** 2
        inside = rho2 <= r * r
        h = np.where(inside, np.sqrt(np.maximum(r * r - rho2, 0.0)), 0.0)
        win = height[r0:r1, c0:c1]
        top = inside & (h > win / 2)
        win[top] = 2 * h[top]
        labels[r0:r1, c0:c1][top] = i + 1
        cos_theta[r0:r1, c0:c1][top] = np.maximum(h[top] / r, 0.2)

    # drop labels hidden completely behind neighbours and renumber 1..K
    present = np.unique(labels[labels > 0])
    remap = np.zeros(k + 1, dtype=np.int32)
    remap[present] = np.arange(1, present.size + 1)
    labels = remap[labels]
    centers, radii = centers[present - 1], radii[present - 1]

    t_nm = height * pixel_size_nm
    t_s = 0.3 * ko_range_nm(kev)
    fib = _fibres(rng, (rows, cols), max(2.0, median_px / 3))
    eta_m = ETA_COLLAGEN * (1 + 0.08 * fib)
    eta = eta_m + (ETA_HYDROXYAPATITE - eta_m) * (1 - np.exp(-t_nm / t_s))
    delta = 0.25 * (1 + 0.25 * fib) / cos_theta**0.6 * (1 + 2.5 * eta)

    field = np.ones((rows, cols))
    if shading:
        yy, xx = np.mgrid[0:rows, 0:cols]
        field = 1 - shading * (0.6 * xx / cols + 0.4 * yy / rows)
    eff_se, eff_bse = 0.5, 0.3
    n_se = rng.poisson(dose * eff_se * delta * field).astype(np.float64)
    n_bse = rng.poisson(dose * eff_bse * eta * field).astype(np.float64)
    n_se = ndimage.gaussian_filter(n_se, blur_px)
    n_bse = ndimage.gaussian_filter(n_bse, blur_px * 1.5)
    if line_noise:
        n_se += rng.normal(0, line_noise * n_se.mean(), (rows, 1))
        n_bse += rng.normal(0, line_noise * n_bse.mean(), (rows, 1))

    full = 255.0 if dtype == np.uint8 else (65535.0 if dtype == np.uint16 else 1.0)
    bar_rows = max(8, rows // 12) if databar else 0

    def quantise(x: np.ndarray, expected_max: float) -> np.ndarray:
        v = x / expected_max * 0.85 * full
        if bar_rows:
            v = np.vstack([v, _databar(bar_rows, cols, 0.92 * full, rng)])
        v = np.clip(v, 0, full)
        return v.astype(np.float32) if dtype == np.float32 else np.rint(v).astype(dtype)

    se = quantise(n_se, dose * eff_se * 0.25 * 0.2**-0.6 * (1 + 2.5 * ETA_HYDROXYAPATITE))
    bse = quantise(n_bse, dose * eff_bse * ETA_HYDROXYAPATITE * 1.2)
    return SyntheticPair(
        se=se,
        bse=bse,
        labels=labels,
        centers=centers,
        diameters_nm=2 * radii * pixel_size_nm,
        pixel_size_nm=float(pixel_size_nm),
        databar_rows=bar_rows,
    )
