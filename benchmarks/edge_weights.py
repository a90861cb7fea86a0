"""Do the Miles-Lantuejoul edge weights count the particles without bias?

Each field is a window into a larger stationary pattern of digital discs (random
sequential addition of discs 5-61 px across, none touching), so the true number of
particles per area is known: the disc centres that lie in the window (or in a region of
it). ``particle_table`` leaves out the discs that touch the window's border (or the
region's edge) and weighs the others; the sum of their weights over the area estimates
the same number. The script prints the estimate over the truth, pooled over the fields
(with its standard error), for the whole window, a round region and a rectangle inside it,
and the window less three straight bands across it (a mosaic's seams).

Run: ``python benchmarks/edge_weights.py [--fields 160]`` (about 45 s).
"""

from __future__ import annotations

import argparse

import numpy as np

from ddcsem import particle_table

WORLD, WINDOW = 768, 512
RADII = (2.5, 4.5, 8.5, 16.5, 30.5)  # px: a digital disc of each is 5, 9, ... 61 px across
GAP = 2  # px between discs, so that no two touch


def pattern(rng: np.random.Generator, n: int = 700) -> tuple[np.ndarray, np.ndarray]:
    """Labels of up to ``n`` discs added at random where they fit in the world, and their centres."""
    centres: list[np.ndarray] = []
    radii: list[float] = []
    for _ in range(10 * n):
        c, r = rng.uniform(0, WORLD, 2), float(rng.choice(RADII))
        if centres and np.any(np.hypot(*(np.array(centres) - c).T) < np.array(radii) + r + GAP):
            continue
        centres.append(c)
        radii.append(r)
        if len(centres) == n:
            break
    world = np.zeros((WORLD, WORLD), np.int32)
    yy, xx = np.mgrid[0:WORLD, 0:WORLD]
    for k, (c, r) in enumerate(zip(centres, radii), 1):
        y0, x0 = (max(0, int(v - r - 1)) for v in c)
        y1, x1 = (min(WORLD, int(v + r + 2)) for v in c)
        disc = (yy[y0:y1, x0:x1] - c[0]) ** 2 + (xx[y0:y1, x0:x1] - c[1]) ** 2 <= r * r
        world[y0:y1, x0:x1][disc] = k
    return world, np.array(centres)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    yy, xx = np.mgrid[0:WINDOW, 0:WINDOW]
    regions = {"whole window": None,
               "round region": (yy - 256) ** 2 + (xx - 256) ** 2 <= 200**2,
               "rectangle": (yy >= 60) & (yy < 400) & (xx >= 100) & (xx < 480),
               # less three bands 3-5 px wide, as a mosaic's seams leave it (widened for their edges)
               "seams": ~(((xx >= 250) & (xx < 255)) | ((yy >= 300) & (yy < 305)) | ((yy >= 120) & (yy < 123)))}
    counts: dict[str, list[tuple[float, int]]] = {name: [] for name in regions}
    rng = np.random.default_rng(args.seed)
    offset = (WORLD - WINDOW) // 2
    for _ in range(args.fields):
        world, centres = pattern(rng)
        labels = world[offset:offset + WINDOW, offset:offset + WINDOW]
        cy, cx = (centres - offset).T
        seen = (cy >= 0) & (cy < WINDOW) & (cx >= 0) & (cx < WINDOW)
        pixel = tuple(np.floor(v[seen]).astype(int) for v in (cy, cx))  # the pixel that holds each centre
        for name, region in regions.items():
            table = particle_table(labels, region=region)
            estimate = np.nansum(table["edge_weight"])  # NaN: touches the border, left out
            truth = seen.sum() if region is None else region[pixel].sum()
            counts[name].append((estimate, truth))
    print(f"{args.fields} fields of {WINDOW} x {WINDOW} px: weighted count over the true count")
    for name, pairs in counts.items():
        estimate, truth = np.array(pairs, dtype=np.float64).T
        ratio = estimate.sum() / truth.sum()
        # standard error of a ratio estimate, from the fields' scatter about it
        error = np.sqrt(np.sum((estimate - ratio * truth) ** 2) * len(truth) / (len(truth) - 1)) / truth.sum()
        print(f"  {name:13s} {ratio:.4f} ± {error:.4f}  ({int(truth.sum())} discs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
