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

Then detection (the field's F1): where the spheres that ``ddcsem analyze`` misses in the
pair go (not found; in a particle matched to a neighbour; alone in a particle whose
centroid lies beyond half their radius; in a particle of several), and how many of the
lone spheres an oracle could find: a filter matched to the field's own mean sphere, in
both images (averaged over the lone spheres of each size class, so it knows the answer),
thresholded at the highest peak of the true background, where it finds nothing false.

Run: ``python benchmarks/tiny_floor.py [--spheres 300]`` (about a minute).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage, optimize
from scipy.spatial import cKDTree

from accuracy import SCENARIOS, ddcsem_pipeline, whole
from ddcsem import density_map, particle_table, segment_particles
from ddcsem.evaluate import match_detections
from ddcsem.synthetic import SyntheticPair, ko_range_nm, make_pair

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


def sizing(syn: SyntheticPair, spheres: int) -> None:
    """The isolated spheres' ECD errors: fitted with the true model, and ddcsem's outlines."""
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
    chosen = chosen[:spheres]
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


#: A lone sphere has no other within this many pixels of its outline.
LONE_GAP_PX = 4
#: Half the side of the matched filter's window (px), and its size classes (diameters, px).
HALF = 6
SIZE_CLASSES = ((0, 4.5), (4.5, 6.5), (6.5, np.inf))


def oracle_score(syn: SyntheticPair, lone: np.ndarray, background: np.ndarray, channels: int) -> np.ndarray:
    """The oracle's detection score: each of the first ``channels`` images (BSE, SE) in
    units of its noise on the ``background``, correlated with the mean of the ``lone``
    spheres of a size class around their centres (zero-mean, so offsets cancel), summed
    over the images, in units of its own noise; the highest over the size classes."""
    images = []
    for im in (syn.bse, syn.se)[:channels]:
        x = im.astype(np.float64)
        images.append((x - np.median(x[background])) / x[background].std())
    centres, d = syn.centers, syn.diameters_px
    rows, cols = syn.bse.shape
    inner = ((centres[:, 0] > HALF + 1) & (centres[:, 0] < rows - HALF - 2)
             & (centres[:, 1] > HALF + 1) & (centres[:, 1] < cols - HALF - 2))
    best = np.full((rows, cols), -np.inf)
    for low, high in SIZE_CLASSES:
        chosen = np.flatnonzero(lone & inner & (d >= low) & (d < high))
        score = np.zeros((rows, cols))
        for x in images:
            patches = []
            for cy, cx in centres[chosen]:  # shifted onto a common sub-pixel centre
                y0, x0 = int(cy) - HALF - 1, int(cx) - HALF - 1
                window = x[y0:y0 + 2 * HALF + 3, x0:x0 + 2 * HALF + 3]
                patches.append(ndimage.shift(window, (int(cy) - cy, int(cx) - cx), order=1)[1:-1, 1:-1])
            template = np.mean(patches, axis=0)
            score += ndimage.correlate(x, template - template.mean())
        score = (score - np.median(score[background])) / score[background].std()
        best = np.maximum(best, score)
    return best


def detection(syn: SyntheticPair) -> None:
    """Where the spheres that ddcsem misses go, and how many lone ones an oracle finds."""
    labels = ddcsem_pipeline(syn)
    scored = whole(syn)
    sphere, label = match_detections(labels, syn.centers, syn.diameters_px)
    centres, radii = syn.centers, syn.diameters_px / 2
    distance, index = cKDTree(centres).query(centres, k=2)  # each sphere's nearest other
    lone = distance[:, 1] - radii - radii[index[:, 1]] > LONE_GAP_PX
    at = labels[np.rint(centres[:, 0]).astype(int).clip(0, labels.shape[0] - 1),
                np.rint(centres[:, 1]).astype(int).clip(0, labels.shape[1] - 1)]
    holds = np.bincount(at[scored], minlength=labels.max() + 1)  # scored centres per particle
    matched_labels = np.zeros(labels.max() + 1, bool)
    matched_labels[label] = True
    missed = scored.copy()
    missed[sphere] = False
    unmatched = missed & (at > 0) & ~matched_labels[at]
    kinds = {
        "not found, lone": missed & (at == 0) & lone,
        "not found, touching a neighbour": missed & (at == 0) & ~lone,
        "in a particle matched to a neighbour": missed & (at > 0) & matched_labels[at],
        "alone in a particle whose centroid lies beyond r/2": unmatched & (holds[at] == 1),
        "in an unmatched particle of several": unmatched & (holds[at] > 1),
    }
    edge = np.zeros_like(matched_labels)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    false = ~matched_labels & (holds == 0) & ~edge  # labels are numbered 1..K
    false[0] = False
    print(f"\ndetection: {scored.sum()} spheres scored, ddcsem (the pair) matches {sphere.size}, "
          f"misses {missed.sum()}:")
    for name, which in kinds.items():
        print(f"  {name:52s} {which.sum():4d}")
    print(f"  false particles (no sphere's centre in them)         {false.sum():4d}")

    background = ~ndimage.binary_dilation(syn.labels > 0, iterations=LONE_GAP_PX)
    lone_scored = lone & scored
    for channels, name in ((2, "BSE and SE"), (1, "BSE alone")):
        score = oracle_score(syn, lone_scored, background, channels)
        peaks = (score == ndimage.maximum_filter(score, 5)) & ndimage.binary_erosion(background, iterations=3)
        bar = score[peaks].max()
        top = np.array([score[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2].max()
                        for y, x in centres[lone_scored]])
        print(f"  oracle filter, {name:10s}: background peaks up to {bar:.1f} noise SDs; above it "
              f"{np.mean(top > bar):.3f} of the {lone_scored.sum()} lone spheres")
        if channels == 2:
            ours = top[missed[lone_scored]]
            print(f"  the {ours.size} lone spheres ddcsem misses stand at {np.median(ours):.1f} noise SDs "
                  f"(median; {ours.min():.1f}-{ours.max():.1f}) in it, {np.sum(ours > bar)} above its background")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spheres", type=int, default=300, help="isolated spheres to fit (default 300)")
    args = parser.parse_args(argv)

    (scenario,) = [s for s in SCENARIOS if s.name == "tiny"]
    syn = make_pair(scenario.shape, **scenario.kwargs)
    sizing(syn, args.spheres)
    detection(syn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
