"""How well can the tiny scenario's spheres be sized at all? A fit with the true model.

The accuracy benchmark's tiny field (spheres of about 6 px, ``accuracy.py``) asks for a
median ECD error of 3 %. This script fits each isolated sphere of that field with the
synthetic generator's own BSE model: the sphere's chord thickness through the
electron-range law, blurred by the generator's own Gaussian, at the generator's own
pixel centres. The blur is known, and so is the electron range (a second fit frees
it). The sphere's radius and centre are fitted by least squares, and its brightness
and background by linear least squares. No method that sizes from these pixels has
more to go on, so the fit's error is a floor for any of them. ddcsem's own outlines
are scored on the same spheres.

Run: ``python benchmarks/tiny_floor.py [--spheres 300]`` (about a minute).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage, optimize
from scipy.spatial import cKDTree

from accuracy import SCENARIOS
from ddcsem import density_map, particle_table, segment_particles
from ddcsem.synthetic import ko_range_nm, make_pair

#: The generator's BSE blur is 1.5 times its probe blur (``make_pair``'s ``blur_px``).
BSE_BLUR = 0.8 * 1.5


def sphere_signal(radius: float, centre: tuple[float, float], shape: tuple[int, int], range_px: float) -> np.ndarray:
    """The generator's BSE excess of a sphere, up to its scale: its chord thickness at
    each pixel centre through ``1 - exp(-t / range)``, blurred as the generator blurs."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    chord = 2 * np.sqrt(np.maximum(radius**2 - (yy - centre[0]) ** 2 - (xx - centre[1]) ** 2, 0.0))
    return ndimage.gaussian_filter(1 - np.exp(-chord / range_px), BSE_BLUR, mode="nearest")


def fitted_radius(window: np.ndarray, centre: tuple[float, float], start: float, range_px: float | None) -> float:
    """The radius that fits ``window`` best, the centre within 3 px of ``centre``, the
    brightness and background solved linearly; the range too when ``range_px`` is None."""
    def residual(p: np.ndarray) -> np.ndarray:
        model = sphere_signal(p[0], (centre[0] + p[1], centre[1] + p[2]), window.shape,
                              p[3] if range_px is None else range_px)
        design = np.c_[model.ravel(), np.ones(model.size)]
        coef, *_ = np.linalg.lstsq(design, window.ravel(), rcond=None)
        return design @ coef - window.ravel()

    p0, low, high = [start, 0.3, -0.3], [0.5, -3, -3], [30, 3, 3]
    if range_px is None:
        p0, low, high = p0 + [5.0], low + [0.3], high + [100]
    return float(optimize.least_squares(residual, p0, bounds=(low, high)).x[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spheres", type=int, default=300, help="isolated spheres to fit (default 300)")
    args = parser.parse_args(argv)

    (scenario,) = [s for s in SCENARIOS if s.name == "tiny"]
    syn = make_pair(scenario.shape, **scenario.kwargs)
    bse = syn.bse.astype(np.float64)
    centres, radii = syn.centers, syn.diameters_px / 2
    range_px = 0.3 * ko_range_nm(10.0) / syn.pixel_size_nm  # make_pair's, at its 10 kV
    rows, cols = bse.shape
    tree = cKDTree(centres)
    chosen = []
    for i, (centre, radius) in enumerate(zip(centres, radii)):  # isolated, and clear of the border
        distance, (_, j) = tree.query(centre, k=2)
        margin = int(np.ceil(radius + 6))
        if (distance[1] > radius + radii[j] + 6 and margin <= centre[0] < rows - margin - 1
                and margin <= centre[1] < cols - margin - 1):
            chosen.append(i)
    chosen = chosen[: args.spheres]
    rng = np.random.default_rng(0)
    known, free = [], []
    for i in chosen:
        (cy, cx), radius = centres[i], radii[i]
        w = int(np.ceil(radius + 6))
        y0, x0 = int(cy) - w, int(cx) - w
        window = bse[y0:y0 + 2 * w + 1, x0:x0 + 2 * w + 1]
        start = max(1.5, radius * np.exp(rng.normal(0, 0.1)))  # a guess within about 10 %
        known.append(fitted_radius(window, (cy - y0, cx - x0), start, range_px) / radius - 1)
        free.append(fitted_radius(window, (cy - y0, cx - x0), start, None) / radius - 1)

    table = particle_table(segment_particles(density_map(syn.bse)))
    found = cKDTree(np.c_[table["centroid_y_px"], table["centroid_x_px"]])
    ours = []
    for i in chosen:
        distance, j = found.query(centres[i])
        if distance < radii[i] / 2:
            ours.append(table["ecd_px"][j] / (2 * radii[i]) - 1)

    print(f"tiny field: {len(chosen)} isolated spheres, median diameter {np.median(2 * radii[chosen]):.2f} px")
    for name, errors in (("true model, range known", known), ("true model, range fitted", free),
                         (f"ddcsem's outlines ({len(ours)} found)", ours)):
        errors = np.asarray(errors)
        print(f"  {name:28s} median |ECD error| {np.median(np.abs(errors)):.3f}, "
              f"median error {np.median(errors):+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
